/**
 * The SAELens on-disk layout: a folder with cfg.json and sae_weights.safetensors (W_enc [d_in, d_sae],
 * W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in], and threshold [d_sae] for JumpReLU), plus optional feature
 * labels (see labels.ts). Loading checks the SAE against the model it will steer, and every problem is one
 * line naming the file and the field, because a mismatched SAE silently steers garbage.
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LABEL_FILE_NAMES, loadFeatureLabels, writeFeatureLabels } from './labels.js';
import { SafetensorsError, SafetensorsFile, writeSafetensors } from './safetensors.js';
import { SAE_ARCHITECTURES, Sae, transpose, type SaeArchitecture } from './sae.js';
import { SaeLoadError } from './sae-load-error.js';
import { asLoadError, type ModelShape } from './sae-files.js';

export type { ModelShape };

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';

/**
 * The residual layer (output of block L, llama.cpp's l_out-L) a TransformerLens hook name reads.
 * resid_pre of block L is resid_post of block L-1; resid_pre of block 0 is the embeddings, which has no l_out.
 * Throws an Error whose message completes "hook name ...".
 */
export function hookNameToLayer(hookName: string): number {
  const match = /^blocks\.(\d+)\.hook_resid_(pre|post)$/.exec(hookName);
  if (!match) {
    throw new Error(
      `"${hookName}" is not a residual-stream hook this server can steer (expected blocks.L.hook_resid_post or blocks.L.hook_resid_pre)`,
    );
  }
  const block = Number(match[1]);
  if (match[2] === 'post') return block;
  if (block === 0) {
    throw new Error(
      `"${hookName}" reads the token embeddings, before any block; steering starts at the output of block 0 (blocks.0.hook_resid_post)`,
    );
  }
  return block - 1;
}

/**
 * Loads an SAELens SAE from its folder, or from a file in it (cfg.json or the .safetensors to use). Callers go
 * through loadSae (load.ts), which picks the loader for whatever layout is on disk.
 */
export async function loadSaeLens(path: string, model: ModelShape): Promise<Sae> {
  const { folder, weightsFile } = await locate(path);
  const cfgFile = join(folder, SAE_CFG_FILE);
  const cfg = parseCfg(cfgFile, await readCfg(cfgFile), model);
  const weights = await readWeights(weightsFile, cfg);
  const { labels } = await loadFeatureLabels(folder, cfg.dSae);
  return new Sae({ ...cfg, ...weights, labels });
}

async function locate(path: string): Promise<{ folder: string; weightsFile: string }> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    throw new SaeLoadError(path, 'path', 'does not exist (expected an SAELens folder with cfg.json and sae_weights.safetensors)');
  }
  if (isDirectory) return { folder: path, weightsFile: join(path, SAE_WEIGHTS_FILE) };
  const folder = dirname(path);
  return { folder, weightsFile: path.endsWith('.safetensors') ? path : join(folder, SAE_WEIGHTS_FILE) };
}

async function readCfg(cfgFile: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(cfgFile, 'utf8');
  } catch {
    throw new SaeLoadError(cfgFile, 'file', 'is missing (an SAELens SAE folder holds cfg.json and sae_weights.safetensors)');
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (err) {
    throw new SaeLoadError(cfgFile, 'file', `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new SaeLoadError(cfgFile, 'file', 'is not a JSON object');
  return cfg as Record<string, unknown>;
}

interface SaeCfg {
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  k?: number;
  applyBDecToInput: boolean;
  hookName: string;
  hookLayer: number;
}

function parseCfg(file: string, cfg: Record<string, unknown>, model: ModelShape): SaeCfg {
  const fail = (field: string, detail: string): never => {
    throw new SaeLoadError(file, field, detail);
  };
  const positiveInt = (field: string): number => {
    const v = cfg[field];
    if (v === undefined) return fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return fail(field, `is ${JSON.stringify(v)}; expected a positive integer`);
    return v;
  };

  // Older SAELens files have no `architecture` and were standard ReLU SAEs; before v5 a TopK SAE was a
  // "standard" one with activation_fn "topk".
  const rawArchitecture = cfg.architecture ?? 'standard';
  if (typeof rawArchitecture !== 'string' || !(SAE_ARCHITECTURES as readonly string[]).includes(rawArchitecture)) {
    return fail('architecture', `${JSON.stringify(rawArchitecture)} is not supported (supported: ${SAE_ARCHITECTURES.join(', ')})`);
  }
  let architecture = rawArchitecture as SaeArchitecture;
  const activationFnField = 'activation_fn' in cfg ? 'activation_fn' : 'activation_fn_str';
  const activationFn = cfg[activationFnField];
  if (architecture === 'standard' && activationFn !== undefined && activationFn !== null) {
    if (activationFn === 'topk') architecture = 'topk';
    else if (activationFn !== 'relu') fail(activationFnField, `${JSON.stringify(activationFn)} is not supported (supported: relu, topk)`);
  }

  const dIn = positiveInt('d_in');
  const dSae = positiveInt('d_sae');
  if (dIn !== model.nEmbd) fail('d_in', `is ${dIn} but the model's residual width (n_embd) is ${model.nEmbd}`);

  let k: number | undefined;
  if (architecture === 'topk') {
    const kwargs = cfg.activation_fn_kwargs;
    const kField = cfg.k !== undefined ? 'k' : 'activation_fn_kwargs.k';
    const rawK = cfg.k ?? (typeof kwargs === 'object' && kwargs !== null ? (kwargs as Record<string, unknown>).k : undefined);
    if (rawK === undefined) fail('k', 'is missing (a topk SAE needs k, or activation_fn_kwargs.k)');
    if (typeof rawK !== 'number' || !Number.isSafeInteger(rawK) || rawK < 1 || rawK > dSae) {
      fail(kField, `is ${JSON.stringify(rawK)}; expected an integer in [1, d_sae = ${dSae}]`);
    }
    k = rawK as number;
  }

  const applyBDecToInput = cfg.apply_b_dec_to_input ?? true;
  if (typeof applyBDecToInput !== 'boolean') {
    return fail('apply_b_dec_to_input', `is ${JSON.stringify(applyBDecToInput)}; expected true or false`);
  }

  // Run-time input normalisation would need the statistics of each input, which a per-feature clamp or a
  // fixed decoder direction cannot reproduce; SAELens folds the constant variant into the weights on export.
  const normalize = cfg.normalize_activations;
  if (normalize !== undefined && normalize !== null && normalize !== 'none') {
    fail('normalize_activations', `is ${JSON.stringify(normalize)}; only "none" is supported (fold the scaling into the weights first)`);
  }

  // SAELens v6 keeps hook details in `metadata` (briefly `meta`); older files have them at the top level.
  const meta = [cfg.metadata, cfg.meta].find((m): m is Record<string, unknown> => typeof m === 'object' && m !== null);
  const hookField = typeof meta?.hook_name === 'string' ? 'metadata.hook_name' : 'hook_name';
  const hookName = typeof meta?.hook_name === 'string' ? meta.hook_name : cfg.hook_name;
  if (typeof hookName !== 'string') return fail('hook_name', 'is missing (expected metadata.hook_name or hook_name, e.g. "blocks.12.hook_resid_post")');
  let hookLayer: number;
  try {
    hookLayer = hookNameToLayer(hookName);
  } catch (err) {
    return fail(hookField, (err as Error).message);
  }
  if (hookLayer >= model.nLayer) {
    fail(hookField, `"${hookName}" reads layer ${hookLayer} but the model has ${model.nLayer} layers (0..${model.nLayer - 1})`);
  }
  return { architecture, dIn, dSae, k, applyBDecToInput, hookName, hookLayer };
}

async function readWeights(
  file: string,
  cfg: SaeCfg,
): Promise<{ wEnc: Float32Array; wDec: Float32Array; bEnc: Float32Array; bDec: Float32Array; threshold?: Float32Array }> {
  const { dIn, dSae } = cfg;
  let weights: SafetensorsFile;
  try {
    weights = await SafetensorsFile.open(file);
  } catch (err) {
    throw asLoadError(file, err);
  }
  try {
    const read = async (name: string, shape: number[], shapeText: string): Promise<Float32Array> => {
      if (!weights.has(name)) throw new SaeLoadError(file, name, 'is missing');
      const tensor = await weights.read(name);
      if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
        throw new SaeLoadError(file, name, `has shape [${tensor.shape.join(', ')}]; expected ${shapeText} = [${shape.join(', ')}]`);
      }
      const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new SaeLoadError(file, name, `holds a non-finite value (${tensor.data[bad]}) at flat index ${bad}`);
      return tensor.data;
    };
    const wEncSaeLens = await read('W_enc', [dIn, dSae], '[d_in, d_sae]');
    const wDec = await read('W_dec', [dSae, dIn], '[d_sae, d_in]');
    const bEnc = await read('b_enc', [dSae], '[d_sae]');
    const bDec = await read('b_dec', [dIn], '[d_in]');
    let threshold: Float32Array | undefined;
    if (cfg.architecture === 'jumprelu') {
      // Some exports keep the trained parameter, log(threshold), instead of the threshold.
      if (!weights.has('threshold') && weights.has('log_threshold')) {
        threshold = (await read('log_threshold', [dSae], '[d_sae]')).map(Math.exp);
      } else {
        threshold = await read('threshold', [dSae], '[d_sae]');
      }
    }
    return { wEnc: transpose(wEncSaeLens, dIn, dSae), wDec, bEnc, bDec, threshold };
  } catch (err) {
    throw asLoadError(file, err);
  } finally {
    await weights.close();
  }
}

export interface SaveSaeOptions {
  /** merged into cfg.json's metadata (model name, training details...) */
  metadata?: Record<string, unknown>;
}

/**
 * Writes `sae` in the SAELens layout (float32), hooked at blocks.L.hook_resid_post, so that SAELens,
 * Neuronpedia tooling and loadSae all read it back. Labels, if any, go to labels.jsonl.
 */
export async function saveSaeLens(folder: string, sae: Sae, options: SaveSaeOptions = {}): Promise<void> {
  await mkdir(folder, { recursive: true });
  const { dIn, dSae } = sae;
  const hookName = `blocks.${sae.hookLayer}.hook_resid_post`;
  await writeSafetensors(join(folder, SAE_WEIGHTS_FILE), {
    W_enc: { shape: [dIn, dSae], data: transpose(sae.wEnc, dSae, dIn) },
    W_dec: { shape: [dSae, dIn], data: sae.wDec },
    b_enc: { shape: [dSae], data: sae.bEnc },
    b_dec: { shape: [dIn], data: sae.bDec },
    ...(sae.threshold ? { threshold: { shape: [dSae], data: sae.threshold } } : {}),
  });
  const cfg = {
    architecture: sae.architecture,
    d_in: dIn,
    d_sae: dSae,
    ...(sae.k !== null ? { k: sae.k } : {}),
    dtype: 'float32',
    apply_b_dec_to_input: sae.applyBDecToInput,
    normalize_activations: 'none',
    hook_name: hookName,
    hook_layer: sae.hookLayer,
    metadata: { ...options.metadata, hook_name: hookName, hook_layer: sae.hookLayer },
  };
  const cfgFile = join(folder, SAE_CFG_FILE);
  const temporary = `${cfgFile}.${process.pid}.partial`;
  await writeFile(temporary, JSON.stringify(cfg, null, 2) + '\n');
  await rename(temporary, cfgFile);
  if (sae.labels.size > 0) await writeFeatureLabels(join(folder, LABEL_FILE_NAMES[0]), sae.labels);
}

