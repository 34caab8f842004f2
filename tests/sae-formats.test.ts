import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSae } from '../src/sae/load.js';
import { parseNpy } from '../src/sae/npy.js';
import { writeSafetensors, type TensorToWrite } from '../src/sae/safetensors.js';
import type { Sae } from '../src/sae/sae.js';

const D = 8;
const F = 16;
const MODEL = { nEmbd: D, nLayer: 6 };
const ROWS = 6;

let dir: string;
let folders = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steerd-sae-formats-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
async function folder(...parts: string[]): Promise<string> {
  const path = join(dir, `case-${folders++}`, ...parts);
  await mkdir(path, { recursive: true });
  return path;
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
/** Multiples of 1/1024 in (-scale/2, scale/2): exact in float16, so F16 files hold exactly these values. */
const randomArray = (n: number, next: () => number, scale = 1): Float32Array =>
  Float32Array.from({ length: n }, () => Math.round(next() * scale * 1024) / 1024);
const x = randomArray(ROWS * D, rng(7), 3);

/** float16 bits of k/1024 for an integer |k| ≤ 2048 (exact: the value has at most 11 significant bits). */
function halfBits(v: number): number {
  const k = Math.round(Math.abs(v) * 1024);
  expect(k / 1024).toBe(Math.abs(v));
  if (k === 0) return v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const e = Math.floor(Math.log2(k));
  expect(e).toBeLessThanOrEqual(10);
  return (v < 0 ? 0x8000 : 0) | ((e + 5) << 10) | ((k - 2 ** e) * 2 ** (10 - e));
}
const f16 = (a: Float32Array): Uint8Array => new Uint8Array(Uint16Array.from(a, halfBits).buffer);

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!), `index ${i}`).toBeLessThan(tolerance);
}

/** Checks encode and decode against per-row reference maths; the test only counts if some features fire and some do not. */
function expectMatches(sae: Sae, encodeRow: (row: Float32Array) => number[], decodeRow: (acts: Float32Array) => number[]): void {
  const acts = sae.encode(x, ROWS);
  const expected = Array.from({ length: ROWS }, (_, r) => encodeRow(x.subarray(r * D, (r + 1) * D))).flat();
  expectClose(acts, expected);
  expect(acts.some((a) => a > 0) && acts.some((a) => a === 0)).toBe(true);
  const decoded = Array.from({ length: ROWS }, (_, r) => decodeRow(acts.subarray(r * F, (r + 1) * F))).flat();
  expectClose(sae.decode(acts, ROWS), decoded);
}

// ---- EleutherAI sparsify -------------------------------------------------------------------------------------

function sparsifyTensors(seed: number) {
  const next = rng(seed);
  return { encW: randomArray(F * D, next), encB: randomArray(F, next, 0.5), wDec: randomArray(F * D, next), bDec: randomArray(D, next, 0.5) };
}
type SparsifyTensors = ReturnType<typeof sparsifyTensors>;

async function writeSparsify(path: string, t: SparsifyTensors, cfg: Record<string, unknown>, options: { f16?: boolean; omit?: string } = {}) {
  await mkdir(path, { recursive: true });
  await writeFile(join(path, 'cfg.json'), JSON.stringify(cfg));
  const tensor = (shape: number[], data: Float32Array): TensorToWrite => (options.f16 ? { shape, dtype: 'F16', data: f16(data) } : { shape, data });
  const tensors: Record<string, TensorToWrite> = {
    'encoder.weight': tensor([F, D], t.encW),
    'encoder.bias': tensor([F], t.encB),
    W_dec: tensor([F, D], t.wDec),
    b_dec: tensor([D], t.bDec),
  };
  if (options.omit) delete tensors[options.omit];
  await writeSafetensors(join(path, 'sae.safetensors'), tensors);
}

/** sparsify's own maths: topk(relu(encoder(x - b_dec))), then W_decᵀ·acts + b_dec. */
function sparsifyEncode(t: SparsifyTensors, k: number) {
  return (row: Float32Array): number[] => {
    const relu = Array.from({ length: F }, (_, f) => {
      let s = t.encB[f]!;
      for (let i = 0; i < D; i++) s += t.encW[f * D + i]! * (row[i]! - t.bDec[i]!);
      return Math.max(0, s);
    });
    const keep = new Set(relu.map((v, f) => [v, f] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, f]) => f));
    return relu.map((v, f) => (keep.has(f) ? v : 0));
  };
}
const linearDecode = (wDec: Float32Array, bDec: Float32Array) => (acts: Float32Array): number[] =>
  Array.from({ length: D }, (_, i) => bDec[i]! + Array.from(acts).reduce((s, a, f) => s + a * wDec[f * D + i]!, 0));

describe('EleutherAI sparsify', () => {
  it('loads F16 layers.N (cfg without d_in) from the folder, its parent, or a file, matching sparsify', async () => {
    const t = sparsifyTensors(1);
    const parent = await folder('sae-pythia');
    const layer = join(parent, 'layers.3');
    await writeSparsify(layer, t, { k: 3, num_latents: F, expansion_factor: 32, activation: 'topk', normalize_decoder: true }, { f16: true });
    for (const path of [layer, parent, join(layer, 'sae.safetensors'), join(layer, 'cfg.json')]) {
      const sae = await loadSae(path, MODEL);
      expect([sae.architecture, sae.k, sae.dIn, sae.dSae, sae.hookLayer, sae.hookName]).toEqual(['topk', 3, D, F, 3, 'blocks.3.hook_resid_post']);
      expectMatches(sae, sparsifyEncode(t, 3), linearDecode(t.wDec, t.bDec));
    }
  });

  it('sizes the dictionary from expansion_factor when num_latents is 0', async () => {
    const t = sparsifyTensors(2);
    const layer = join(await folder(), 'layers_1');
    await writeSparsify(layer, t, { k: 5, num_latents: 0, expansion_factor: F / D, d_in: D });
    const sae = await loadSae(layer, MODEL);
    expect([sae.dSae, sae.hookLayer]).toEqual([F, 1]);
    expectMatches(sae, sparsifyEncode(t, 5), linearDecode(t.wDec, t.bDec));
  });

  it('stops with the file and the field: width, missing tensor, several layers, layer range, unsupported options', async () => {
    const t = sparsifyTensors(3);
    const root = await folder();
    const cases: [Record<string, unknown>, string, string, { omit?: string; model?: typeof MODEL }?][] = [
      [{ k: 3, num_latents: F, d_in: D }, 'layers.2', `cfg.json: d_in is ${D} but the model's residual width (n_embd) is 12`, { model: { nEmbd: 12, nLayer: 6 } }],
      [{ k: 3, num_latents: F }, 'layers.2', `sae.safetensors: b_dec has ${D} values (d_in) but the model's residual width (n_embd) is 12`, { model: { nEmbd: 12, nLayer: 6 } }],
      [{ k: 3, num_latents: F, d_in: D }, 'layers.2', 'sae.safetensors: W_dec is missing', { omit: 'W_dec' }],
      [{ k: 3, num_latents: F, d_in: D }, 'layers.9', 'layers.9: folder name "layers.9" reads layer 9 but the model has 6 layers (0..5)'],
      [{ k: 3, num_latents: F, d_in: D }, 'layers.2.mlp', 'folder name "layers.2.mlp" does not say which layer'],
      [{ k: 3, num_latents: F, d_in: D, activation: 'groupmax' }, 'layers.2', 'cfg.json: activation is "groupmax"; only "topk" is supported'],
      [{ k: 3, num_latents: F, d_in: D, transcode: true }, 'layers.2', 'cfg.json: transcode is true; a transcoder'],
      [{ k: 99, num_latents: F, d_in: D }, 'layers.2', `cfg.json: k is 99; expected at most the number of latents (${F})`],
      [{ num_latents: F, d_in: D }, 'layers.2', 'cfg.json: k is missing'],
    ];
    for (const [n, [cfg, name, message, options]] of cases.entries()) {
      const path = join(root, `c${n}`, name);
      await writeSparsify(path, t, cfg, options);
      await expect(loadSae(path, options?.model ?? MODEL), message).rejects.toThrow(message);
    }

    const parent = join(root, 'several');
    await writeSparsify(join(parent, 'layers.10'), t, { k: 3, num_latents: F });
    await writeSparsify(join(parent, 'layers.2'), t, { k: 3, num_latents: F });
    await mkdir(join(parent, 'layers.4')); // no SAE inside: not offered
    await expect(loadSae(parent, MODEL)).rejects.toThrow(
      `${parent}: path holds sparsify SAEs for 2 layers (layers.2, layers.10); choose one, e.g. --sae ${join(parent, 'layers.2')}`,
    );
  });
});

// ---- Llama Scope ---------------------------------------------------------------------------------------------

function llamaTensors(seed: number) {
  const next = rng(seed);
  // decoder.weight is [d_model, d_sae]; its columns have norms far from 1, to exercise sparsity_include_decoder_norm
  return { encW: randomArray(F * D, next), encB: randomArray(F, next, 0.5), decW: randomArray(D * F, next, 3), decB: randomArray(D, next) };
}
type LlamaTensors = ReturnType<typeof llamaTensors>;

const llamaHyperparams = (extra: Record<string, unknown> = {}) => ({
  d_model: D,
  d_sae: F,
  hook_point_in: 'blocks.2.hook_resid_post',
  hook_point_out: 'blocks.2.hook_resid_post',
  act_fn: 'jumprelu',
  jump_relu_threshold: 0.4,
  norm_activation: 'dataset-wise',
  dataset_average_activation_norm: { in: 2.5, out: 4 },
  use_decoder_bias: true,
  apply_decoder_bias_to_pre_encoder: false,
  sparsity_include_decoder_norm: true,
  top_k: 50,
  ...extra,
});

async function writeLlamaScope(path: string, t: LlamaTensors, hyperparams: Record<string, unknown>, omit?: string) {
  await mkdir(join(path, 'checkpoints'), { recursive: true });
  await writeFile(join(path, 'hyperparams.json'), JSON.stringify(hyperparams));
  const tensors: Record<string, TensorToWrite> = {
    'encoder.weight': { shape: [F, D], data: t.encW },
    'encoder.bias': { shape: [F], data: t.encB },
    'decoder.weight': { shape: [D, F], data: t.decW },
    'decoder.bias': { shape: [D], data: t.decB },
  };
  if (omit) delete tensors[omit];
  await writeSafetensors(join(path, 'checkpoints', 'final.safetensors'), tensors);
}

describe('Llama Scope', () => {
  it('folds dataset-wise normalisation and decoder norms into the weights, matching the reference on raw residuals', async () => {
    const t = llamaTensors(4);
    const path = await folder('Llama3_1-8B-Base-L2R-8x');
    await writeLlamaScope(path, t, llamaHyperparams());
    const sIn = Math.sqrt(D) / 2.5;
    const sOut = Math.sqrt(D) / 4;
    const norm = (f: number) => Math.hypot(...Array.from({ length: D }, (_, i) => t.decW[i * F + f]!));
    // the reference scales the input by s_in, thresholds pre·‖dec_f‖ against θ, and scales the output back by 1/s_out
    const encodeRow = (row: Float32Array): number[] =>
      Array.from({ length: F }, (_, f) => {
        let pre = t.encB[f]!;
        for (let i = 0; i < D; i++) pre += t.encW[f * D + i]! * row[i]! * sIn;
        return pre * norm(f) > 0.4 ? pre : 0;
      });
    const decodeRow = (acts: Float32Array): number[] =>
      Array.from({ length: D }, (_, i) => (t.decB[i]! + Array.from(acts).reduce((s, a, f) => s + a * t.decW[i * F + f]!, 0)) / sOut);
    for (const p of [path, join(path, 'hyperparams.json'), join(path, 'checkpoints', 'final.safetensors')]) {
      const sae = await loadSae(p, MODEL);
      expect([sae.architecture, sae.hookLayer, sae.hookName, sae.applyBDecToInput]).toEqual(['jumprelu', 2, 'blocks.2.hook_resid_post', false]);
      expectMatches(sae, encodeRow, decodeRow);
    }
  });

  it('stops with the file and the field', async () => {
    const t = llamaTensors(5);
    const cases: [Record<string, unknown>, string, string?][] = [
      [llamaHyperparams({ d_model: 12 }), "hyperparams.json: d_model is 12 but the model's residual width (n_embd) is 8"],
      [llamaHyperparams(), 'final.safetensors: encoder.bias is missing', 'encoder.bias'],
      [llamaHyperparams({ act_fn: 'relu' }), 'hyperparams.json: act_fn is "relu"; supported'],
      [llamaHyperparams({ norm_activation: 'token-wise' }), 'hyperparams.json: norm_activation is "token-wise"'],
      [llamaHyperparams({ dataset_average_activation_norm: { in: 2.5 } }), 'hyperparams.json: dataset_average_activation_norm.out is undefined'],
      [llamaHyperparams({ hook_point_in: 'blocks.7.hook_resid_post', hook_point_out: 'blocks.7.hook_resid_post' }), 'hyperparams.json: hook_point_in "blocks.7.hook_resid_post" reads layer 7 but the model has 6 layers'],
      [llamaHyperparams({ hook_point_out: 'blocks.2.hook_mlp_out' }), 'hyperparams.json: hook_point_out is "blocks.2.hook_mlp_out", not hook_point_in: this is a transcoder'],
      [llamaHyperparams({ hook_point_in: 'blocks.2.hook_attn_out', hook_point_out: undefined }), 'hyperparams.json: hook_point_in "blocks.2.hook_attn_out" is not a residual-stream hook'],
    ];
    for (const [hyperparams, message, omit] of cases) {
      const path = await folder();
      await writeLlamaScope(path, t, hyperparams, omit);
      await expect(loadSae(path, MODEL), message).rejects.toThrow(message);
    }
  });
});

// ---- Gemma Scope ---------------------------------------------------------------------------------------------

/** An .npy file as numpy writes it: magic, version 1.0, a dict header padded so the data starts on a 64-byte boundary. */
function npy(shape: number[], data: Float32Array, dtype: '<f4' | '<f2' = '<f4', fortran = false): Uint8Array {
  const dict = `{'descr': '${dtype}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const header = dict + ' '.repeat(63 - ((10 + dict.length) % 64)) + '\n';
  const prefix = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  const body = dtype === '<f2' ? f16(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array([...prefix, ...Buffer.from(header, 'latin1'), ...body]);
}

function gemmaTensors(seed: number) {
  const next = rng(seed);
  return {
    W_enc: randomArray(D * F, next),
    W_dec: randomArray(F * D, next),
    b_enc: randomArray(F, next, 0.5),
    b_dec: randomArray(D, next),
    threshold: randomArray(F, next, 1.2), // straddles 0: the ReLU must still cut negative pre-activations
  };
}
type GemmaTensors = ReturnType<typeof gemmaTensors>;

async function writeGemmaScope(path: string, t: GemmaTensors, omit?: keyof GemmaTensors): Promise<string> {
  await mkdir(path, { recursive: true });
  // np.savez stores, np.savez_compressed deflates: mix both; b_enc as float16 exercises '<f2'.
  const files: Record<string, [Uint8Array, { level: 0 | 6 }]> = {
    'W_enc.npy': [npy([D, F], t.W_enc), { level: 0 }],
    'W_dec.npy': [npy([F, D], t.W_dec), { level: 6 }],
    'b_enc.npy': [npy([F], t.b_enc, '<f2'), { level: 0 }],
    'b_dec.npy': [npy([D], t.b_dec), { level: 6 }],
    'threshold.npy': [npy([F], t.threshold), { level: 0 }],
  };
  if (omit) delete files[`${omit}.npy`];
  const file = join(path, 'params.npz');
  await writeFile(file, zipSync(files));
  return file;
}

describe('Gemma Scope', () => {
  it('reads params.npz (stored and deflated, f4 and f2) and takes the layer from layer_N, matching JumpReLU', async () => {
    const t = gemmaTensors(6);
    const path = await folder('gemma-scope-2b-pt-res', 'layer_4', 'width_16', 'average_l0_5');
    const file = await writeGemmaScope(path, t);
    const encodeRow = (row: Float32Array): number[] =>
      Array.from({ length: F }, (_, f) => {
        let pre = t.b_enc[f]!;
        for (let i = 0; i < D; i++) pre += row[i]! * t.W_enc[i * F + f]!;
        return pre > t.threshold[f]! && pre > 0 ? pre : 0;
      });
    for (const p of [path, file]) {
      const sae = await loadSae(p, MODEL);
      expect([sae.architecture, sae.hookLayer, sae.dSae, sae.applyBDecToInput]).toEqual(['jumprelu', 4, F, false]);
      expectMatches(sae, encodeRow, linearDecode(t.W_dec, t.b_dec));
    }
  });

  it('stops with the file and the field', async () => {
    const t = gemmaTensors(7);
    const wide = await writeGemmaScope(await folder('layer_1'), t);
    await expect(loadSae(wide, { nEmbd: 12, nLayer: 6 })).rejects.toThrow(`${wide}: W_enc has shape [${D}, ${F}]: d_in ${D}, but the model's residual width (n_embd) is 12`);
    const missing = await writeGemmaScope(await folder('layer_1'), t, 'threshold');
    await expect(loadSae(missing, MODEL)).rejects.toThrow(`${missing}: threshold is missing`);
    const noLayer = await writeGemmaScope(await folder('width_16k'), t);
    await expect(loadSae(noLayer, MODEL)).rejects.toThrow(`${noLayer}: path does not say which layer the SAE reads`);
    const deep = await writeGemmaScope(await folder('layer_6'), t);
    await expect(loadSae(deep, MODEL)).rejects.toThrow(`${deep}: path folder "layer_6" reads layer 6 but the model has 6 layers`);
    const mlp = await writeGemmaScope(await folder('gemma-scope-2b-pt-mlp', 'layer_1'), t);
    await expect(loadSae(mlp, MODEL)).rejects.toThrow('names the release "gemma-scope-2b-pt-mlp"');
    const notZip = join(await folder('layer_1'), 'params.npz');
    await writeFile(notZip, 'not a zip');
    await expect(loadSae(notZip, MODEL)).rejects.toThrow(`${notZip}: file is not a readable .npz (zip) archive`);
  });

  it('parseNpy refuses what it cannot read exactly', () => {
    const a = Float32Array.from([1, 2, 3, 4]);
    expect(parseNpy(npy([2, 2], a), 'f', 'a')).toEqual({ shape: [2, 2], data: a });
    expect(() => parseNpy(npy([2, 2], a, '<f4', true), 'f.npz', 'a')).toThrow('f.npz: a is stored in Fortran (column-major) order');
    const bigEndian = npy([4], a);
    bigEndian.set(Buffer.from(`'>f4'`), Buffer.from(bigEndian).indexOf(`'<f4'`));
    expect(() => parseNpy(bigEndian, 'f.npz', 'a')).toThrow(`f.npz: a has dtype '>f4'`);
    expect(() => parseNpy(npy([5], a), 'f.npz', 'a')).toThrow('f.npz: a holds 16 data bytes but shape (5) of \'<f4\' needs 20');
    expect(() => parseNpy(new Uint8Array(20), 'f.npz', 'a')).toThrow('bad magic');
  });
});
