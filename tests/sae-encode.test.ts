/**
 * The native readout (SaeEncoder over ggml's matmul) against the plain reference Sae.encode: every activation,
 * each row's top features, for each architecture, on sizes that do and do not fit the SIMD tiles, from memory
 * that is not 32-byte aligned; and nearest features by decoder cosine against a brute-force loop.
 */
import { describe, expect, it } from 'vitest';
import { Sae, type SaeArchitecture } from '../src/sae/sae.js';
import { SaeEncoder } from '../src/sae/sae-encoder.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
const randomArray = (n: number, next: () => number, scale = 1) => Float32Array.from({ length: n }, () => next() * scale);

function randomSae(architecture: SaeArchitecture, dIn: number, dSae: number, seed: number): Sae {
  const next = rng(seed);
  return new Sae({
    architecture, dIn, dSae, hookLayer: 1, k: 7,
    wEnc: randomArray(dSae * dIn, next), wDec: randomArray(dSae * dIn, next),
    bEnc: randomArray(dSae, next, 0.5), bDec: randomArray(dIn, next),
    threshold: randomArray(dSae, next, 0.8),
  });
}

/** Reference top features of one row of dense activations: positive ones, strongest first. */
function referenceTop(acts: Float32Array, row: number, dSae: number, n: number): { index: number; activation: number }[] {
  return Array.from(acts.subarray(row * dSae, (row + 1) * dSae), (activation, index) => ({ index, activation }))
    .filter((f) => f.activation > 0)
    .sort((a, b) => b.activation - a.activation || a.index - b.index)
    .slice(0, n);
}

describe('SaeEncoder.encode', () => {
  it.each([
    { architecture: 'standard' as const, dIn: 64, dSae: 256, rows: 16 },
    { architecture: 'jumprelu' as const, dIn: 70, dSae: 301, rows: 9 },
    { architecture: 'topk' as const, dIn: 48, dSae: 200, rows: 5 },
    { architecture: 'standard' as const, dIn: 33, dSae: 17, rows: 1 },
  ])('$architecture, d_in $dIn × d_sae $dSae, $rows rows: matches Sae.encode', async ({ architecture, dIn, dSae, rows }) => {
    const sae = randomSae(architecture, dIn, dSae, dIn * 7 + dSae);
    const encoder = await SaeEncoder.create(sae, { threads: 2 });
    // one float in front, so the rows start 4 bytes past an allocation: not 32-byte aligned
    const backing = randomArray(rows * dIn + 1, rng(99), 4);
    const x = backing.subarray(1);
    const reference = sae.encode(x, rows);
    const topN = 6;
    const out = await encoder.encode(x, rows, { topN, dense: true });

    expect(out.dense!.length).toBe(rows * dSae);
    for (let i = 0; i < reference.length; i++) {
      expect(Math.abs(out.dense![i]! - reference[i]!), `activation ${i}`).toBeLessThan(1e-4 * (1 + Math.abs(reference[i]!)));
    }
    expect(reference.some((v) => v > 0)).toBe(true);
    if (architecture === 'topk') {
      for (let r = 0; r < rows; r++) expect(reference.subarray(r * dSae, (r + 1) * dSae).filter((v) => v > 0).length).toBeLessThanOrEqual(7);
    }
    for (let r = 0; r < rows; r++) {
      const expected = referenceTop(reference, r, dSae, topN);
      const indices = Array.from(out.indices.subarray(r * topN, (r + 1) * topN));
      expect(indices).toEqual([...expected.map((f) => f.index), ...Array(topN - expected.length).fill(-1)]);
      expected.forEach((f, j) => expect(out.values[r * topN + j]).toBeCloseTo(f.activation, 4));
    }

    // without the dense output: the same top features (the encoder chunks rows on its own)
    const sparse = await encoder.encode(x, rows, { topN });
    expect(sparse.dense).toBeUndefined();
    expect(Array.from(sparse.indices)).toEqual(Array.from(out.indices));
  });

  it('runs concurrent calls one after another with the same results, and handles zero rows', async () => {
    const sae = randomSae('jumprelu', 40, 120, 5);
    const encoder = await SaeEncoder.create(sae, { threads: 1 });
    const inputs = [1, 2, 3].map((seed) => randomArray(3 * 40, rng(seed), 3));
    const together = await Promise.all(inputs.map((x) => encoder.encode(x, 3, { topN: 4 })));
    for (const [i, x] of inputs.entries()) {
      const alone = await encoder.encode(x, 3, { topN: 4 });
      expect(Array.from(together[i]!.indices)).toEqual(Array.from(alone.indices));
    }
    const empty = await encoder.encode(new Float32Array(0), 0, { topN: 4, dense: true });
    expect([empty.indices.length, empty.dense!.length]).toEqual([0, 0]);
    await expect(encoder.encode(new Float32Array(39), 1)).rejects.toThrow(/expected 1 × 40/);
  });
});

describe('SaeEncoder.nearestByDecoder', () => {
  it('ranks features by decoder cosine, without the feature itself', async () => {
    const sae = randomSae('standard', 24, 90, 11);
    const encoder = await SaeEncoder.create(sae, { threads: 2 });
    const row = (f: number) => sae.wDec.subarray(f * 24, (f + 1) * 24);
    const cosine = (a: Float32Array, b: Float32Array) => {
      let ab = 0, aa = 0, bb = 0;
      for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
      return ab / Math.sqrt(aa * bb);
    };
    const expected = Array.from({ length: 90 }, (_, g) => ({ index: g, cosine: cosine(row(13), row(g)) }))
      .filter((f) => f.index !== 13)
      .sort((a, b) => b.cosine - a.cosine)
      .slice(0, 5);
    const near = await encoder.nearestByDecoder(13, 5);
    expect(near.map((f) => f.index)).toEqual(expected.map((f) => f.index));
    near.forEach((f, i) => expect(f.cosine).toBeCloseTo(expected[i]!.cosine, 5));
    await expect(encoder.nearestByDecoder(90, 5)).rejects.toThrow(/out of range/);
  });
});
