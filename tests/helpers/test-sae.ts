/**
 * Small deterministic SAEs for the tiny test model, written to disk in the SAELens layout when a test needs
 * files. Encoder rows equal decoder rows (tied, unit norm), so adding a feature's decoder direction raises that
 * feature's own activation: steering has an effect a test can predict.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sae, type SaeArchitecture } from '../../src/sae/sae.js';
import { saveSaeLens } from '../../src/sae/saelens.js';

export interface TestSaeOptions {
  dIn: number;
  dSae: number;
  hookLayer: number;
  architecture?: SaeArchitecture;
  /** topk only (default 4) */
  k?: number;
  seed?: number;
  labels?: Map<number, string>;
}

export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

export function testSae(options: TestSaeOptions): Sae {
  const { dIn, dSae } = options;
  const next = seededRandom(options.seed ?? 1);
  const wDec = new Float32Array(dSae * dIn);
  for (let f = 0; f < dSae; f++) {
    const row = wDec.subarray(f * dIn, (f + 1) * dIn);
    let norm = 0;
    for (let i = 0; i < dIn; i++) norm += (row[i] = next()) ** 2;
    row.forEach((v, i) => (row[i] = v / Math.sqrt(norm)));
  }
  const architecture = options.architecture ?? 'topk';
  return new Sae({
    architecture,
    dIn,
    dSae,
    wEnc: Float32Array.from(wDec),
    wDec,
    bEnc: Float32Array.from({ length: dSae }, () => next() * 0.1),
    bDec: new Float32Array(dIn),
    hookLayer: options.hookLayer,
    k: options.k ?? 4,
    threshold: architecture === 'jumprelu' ? Float32Array.from({ length: dSae }, () => 0.5 + next()) : undefined,
    labels: options.labels,
  });
}

/** Writes the SAE (and its labels) to a fresh temporary folder and returns the folder. */
export async function writeTestSae(sae: Sae): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'steerd-test-sae-'));
  await saveSaeLens(folder, sae);
  return folder;
}
