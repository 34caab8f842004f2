/**
 * The one way to load an SAE (the server's --sae goes through it): looks at what is on disk and hands the path to
 * the loader for that layout. Every layout ends as the same Sae, checked against the model it will steer.
 *
 *   params.npz                                   Gemma Scope      (gemma-scope.ts)
 *   hyperparams.json + checkpoints/*.safetensors Llama Scope      (llama-scope.ts)
 *   cfg.json + sae.safetensors, in layers.N/     EleutherAI sparsify (sparsify.ts)
 *   cfg.json + sae_weights.safetensors           SAELens          (saelens.ts), also the fallback, whose errors
 *                                                say what an SAE folder should hold
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GEMMA_SCOPE_FILE, loadGemmaScope } from './gemma-scope.js';
import { LLAMA_SCOPE_CFG_FILE, loadLlamaScope } from './llama-scope.js';
import type { Sae } from './sae.js';
import type { ModelShape } from './sae-files.js';
import { SaeLoadError } from './sae-load-error.js';
import { SAE_CFG_FILE, SAE_WEIGHTS_FILE, loadSaeLens } from './saelens.js';
import { SPARSIFY_LAYER_FOLDER, SPARSIFY_WEIGHTS_FILE, loadSparsify } from './sparsify.js';

export type { ModelShape };

/** Loads the SAE at `path`: a folder in any supported layout, or one of its files. */
export async function loadSae(path: string, model: ModelShape): Promise<Sae> {
  const kind = await kindOf(path);
  if (kind === null) {
    throw new SaeLoadError(
      path,
      'path',
      'does not exist (expected an SAE folder: SAELens cfg.json + sae_weights.safetensors, sparsify layers.N/ with cfg.json + sae.safetensors, Llama Scope hyperparams.json, or Gemma Scope params.npz)',
    );
  }
  if (kind === 'folder') return loadFolder(path, model);

  const name = basename(path);
  const folder = dirname(path);
  if (name.endsWith('.npz')) return loadGemmaScope(path, model);
  if (name === LLAMA_SCOPE_CFG_FILE) return loadLlamaScope(folder, model);
  if (basename(folder) === 'checkpoints' && (await kindOf(join(dirname(folder), LLAMA_SCOPE_CFG_FILE))) === 'file') {
    return loadLlamaScope(dirname(folder), model);
  }
  if (name === SPARSIFY_WEIGHTS_FILE || (name === SAE_CFG_FILE && (await isSparsifyFolder(folder)))) return loadSparsify(folder, model);
  return loadSaeLens(path, model);
}

async function loadFolder(folder: string, model: ModelShape): Promise<Sae> {
  if ((await kindOf(join(folder, GEMMA_SCOPE_FILE))) === 'file') return loadGemmaScope(join(folder, GEMMA_SCOPE_FILE), model);
  if ((await kindOf(join(folder, LLAMA_SCOPE_CFG_FILE))) === 'file') return loadLlamaScope(folder, model);
  if (await isSparsifyFolder(folder)) return loadSparsify(folder, model);
  if ((await kindOf(join(folder, SAE_CFG_FILE))) === null) {
    // A sparsify checkpoint holds one layers.N folder per hookpoint; one SAE steers one layer, so pick only when
    // there is no choice to make.
    const layers = await sparsifyLayerFolders(folder);
    if (layers.length === 1) return loadSparsify(join(folder, layers[0]!), model);
    if (layers.length > 1) {
      throw new SaeLoadError(
        folder,
        'path',
        `holds sparsify SAEs for ${layers.length} layers (${layers.join(', ')}); choose one, e.g. --sae ${join(folder, layers[0]!)}`,
      );
    }
  }
  return loadSaeLens(folder, model);
}

/** sparsify writes sae.safetensors where SAELens writes sae_weights.safetensors; both write cfg.json. */
async function isSparsifyFolder(folder: string): Promise<boolean> {
  return (await kindOf(join(folder, SPARSIFY_WEIGHTS_FILE))) === 'file' && (await kindOf(join(folder, SAE_WEIGHTS_FILE))) === null;
}

/** The layers.N subfolders holding a sparsify SAE, in layer order. */
async function sparsifyLayerFolders(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const found: { name: string; layer: number }[] = [];
  for (const entry of entries) {
    const match = SPARSIFY_LAYER_FOLDER.exec(entry.name);
    if (match && entry.isDirectory() && (await isSparsifyFolder(join(folder, entry.name)))) found.push({ name: entry.name, layer: Number(match[1]) });
  }
  return found.sort((a, b) => a.layer - b.layer).map((f) => f.name);
}

async function kindOf(path: string): Promise<'file' | 'folder' | null> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch {
    return null;
  }
}
