/**
 * Deterministic random-weight test models, generated on first use and cached under <repo>/.cache/test-models/.
 * The file name carries a hash of the generator options and version, so changing either regenerates the
 * model instead of silently reusing a stale one. Generation is atomic (temp file + rename), so vitest workers
 * asking at once are safe: at worst two of them write the same bytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RANDOM_LLAMA_GENERATOR_VERSION, ensureRandomLlamaModel, type RandomLlamaOptions } from '../../src/models/random-llama.js';

export type TestModelName = 'tiny' | 'small';

export const TEST_MODEL_OPTIONS: Record<TestModelName, RandomLlamaOptions> = {
  /** 0.3M params, 1.1 MB: token-level tests */
  tiny: { seed: 7, nEmbd: 64, nLayer: 4, nHead: 4, nFf: 192, nCtxTrain: 1024, vocabSize: 512, dtype: 'f32', name: 'steerd-test-tiny' },
  /** 1M params, 2 MB: grouped-query attention (4 heads, 2 KV heads) and F16 weights */
  small: {
    seed: 11,
    nEmbd: 128,
    nLayer: 4,
    nHead: 4,
    nHeadKv: 2,
    nFf: 384,
    nCtxTrain: 2048,
    vocabSize: 1000,
    dtype: 'f16',
    name: 'steerd-test-small',
  },
};

export const TEST_MODEL_CACHE_DIR = fileURLToPath(new URL('../../.cache/test-models/', import.meta.url));

const pending = new Map<TestModelName, Promise<string>>();

export function testModelFileName(name: TestModelName): string {
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ generator: RANDOM_LLAMA_GENERATOR_VERSION, options: TEST_MODEL_OPTIONS[name] }))
    .digest('hex')
    .slice(0, 12);
  return `${name}-${fingerprint}.gguf`;
}

export function testModelPath(name: TestModelName): Promise<string> {
  let promise = pending.get(name);
  if (!promise) {
    promise = ensureRandomLlamaModel(path.join(TEST_MODEL_CACHE_DIR, testModelFileName(name)), TEST_MODEL_OPTIONS[name]);
    pending.set(name, promise);
    promise.catch(() => pending.delete(name)); // let a later call retry after a failure
  }
  return promise;
}
