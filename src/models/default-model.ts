/**
 * What `npm start` serves when no --model is given: the forged storyworld model with its SAE and labels
 * (models/storyworld/, committed), or, where those are absent, a small deterministic random-weight Llama
 * generated on the first start (about a second) rather than shipped.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRandomLlamaModel, type RandomLlamaOptions } from './random-llama.js';

export const DEFAULT_RANDOM_MODEL_FILE = 'steerd-random-small.gguf';

/** ~7.2M parameters, 14 MB in F16 */
export const DEFAULT_RANDOM_MODEL_OPTIONS: RandomLlamaOptions = {
  seed: 1,
  nEmbd: 256,
  nLayer: 6,
  nHead: 8,
  nFf: 768,
  nCtxTrain: 2048,
  vocabSize: 4096,
  dtype: 'f16',
  name: 'steerd-random-small',
};

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Returns the path of the default model, generating it (atomically) if it is missing. */
export async function ensureDefaultModel(dir: string = path.join(REPO_ROOT, 'models', 'random')): Promise<string> {
  return ensureRandomLlamaModel(path.join(dir, DEFAULT_RANDOM_MODEL_FILE), DEFAULT_RANDOM_MODEL_OPTIONS);
}

export const STORYWORLD_DIR = path.join(REPO_ROOT, 'models', 'storyworld');

/** The embedded model and SAE (an explicit --sae wins); the random model when the forge's artifacts are missing. */
export async function defaultServedSet(sae?: string): Promise<{ model: string; sae?: string }> {
  const model = path.join(STORYWORLD_DIR, 'storyworld.gguf');
  const storyworldSae = path.join(STORYWORLD_DIR, 'sae');
  if (existsSync(model)) return { model, sae: sae ?? (existsSync(storyworldSae) ? storyworldSae : undefined) };
  return { model: await ensureDefaultModel(), sae };
}
