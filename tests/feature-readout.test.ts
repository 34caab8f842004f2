/**
 * The model-free parts of the feature readout: statistics accumulation against a plain count, rarity tiers from
 * density percentiles, the statistics file (and forge-style label rows read as statistics), label search, and
 * constellations.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constellationName, findConstellations } from '../src/sae/constellations.js';
import { FeatureStatsCollector } from '../src/sae/feature-stats-collector.js';
import { FEATURE_STATS_FILE, FeatureStats, loadFeatureStats, rarityTier, writeFeatureStats, type FeatureStatsRow } from '../src/sae/feature-stats.js';
import { LabelIndex, labelWords } from '../src/sae/label-search.js';
import { seededRandom } from './helpers/test-sae.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steerd-readout-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FeatureStatsCollector', () => {
  it('counts firing, maxima and the strongest rows per feature like a plain loop, across chunks', () => {
    const dSae = 7;
    const rows = 50;
    const next = seededRandom(3);
    // sparse-ish activations: about a third positive
    const acts = Float32Array.from({ length: rows * dSae }, () => Math.max(0, next() + 0.2) * 10);
    const collector = new FeatureStatsCollector(dSae, 3);
    collector.add(acts.subarray(0, 20 * dSae), 20, Array.from({ length: 20 }, (_, r) => 100 + r));
    collector.add(acts.subarray(20 * dSae), 30, Array.from({ length: 30 }, (_, r) => 120 + r));
    const result = collector.finish((rowId) => ({ text: `row ${rowId}`, token: `t${rowId}` }));

    expect(collector.tokens).toBe(rows);
    for (let f = 0; f < dSae; f++) {
      const column = Array.from({ length: rows }, (_, r) => ({ rowId: 100 + r, a: acts[r * dSae + f]! })).filter((c) => c.a > 0);
      const strongest = [...column].sort((x, y) => y.a - x.a || x.rowId - y.rowId).slice(0, 3);
      expect(result[f]!.density).toBeCloseTo(column.length / rows, 5);
      expect(result[f]!.max_activation).toBeCloseTo(Math.max(0, ...column.map((c) => c.a)), 4);
      expect(result[f]!.top_contexts.map((c) => c.text)).toEqual(strongest.map((c) => `row ${c.rowId}`));
      result[f]!.top_contexts.forEach((c, i) => expect(c.activation).toBeCloseTo(strongest[i]!.a, 4));
    }
  });
});

describe('FeatureStats', () => {
  const row = (index: number, density: number): FeatureStatsRow => ({ index, density, max_activation: 1, top_contexts: [] });

  it('tiers by the share of live features that fire more often: common < 35% ≤ rare < 45% ≤ ultra < 60% ≤ legendary', () => {
    expect([0, 0.3499, 0.35, 0.4499, 0.45, 0.5999, 0.6, 1].map(rarityTier)).toEqual(
      ['common', 'common', 'rare', 'rare', 'ultra', 'ultra', 'legendary', 'legendary'],
    );
    // 20 live features with densities 20/100 .. 1/100 (feature f: (20 - f)/100), one dead, one without a row
    const stats = new FeatureStats(22, [...Array.from({ length: 20 }, (_, f) => row(f, (20 - f) / 100)), row(20, 0)]);
    expect(stats.percentile(0)).toBe(0);
    expect(stats.percentile(7)).toBe(0.35);
    expect(Array.from({ length: 20 }, (_, f) => stats.rarity(f))).toEqual([
      ...Array(7).fill('common'), ...Array(2).fill('rare'), ...Array(3).fill('ultra'), ...Array(8).fill('legendary'),
    ]);
    expect([stats.rarity(20), stats.density(20)]).toEqual(['legendary', 0]);
    expect([stats.rarity(21), stats.density(21), stats.maxActivation(21), stats.topContexts(21)]).toEqual([null, null, null, []]);
  });

  it('ties share a percentile: only strictly denser features count', () => {
    const stats = new FeatureStats(4, [row(0, 0.5), row(1, 0.1), row(2, 0.1), row(3, 0.1)]);
    expect([0, 1, 2, 3].map((f) => stats.percentile(f))).toEqual([0, 0.25, 0.25, 0.25]);
  });

  it('round-trips feature-stats.jsonl, and reads the statistics in forge-style label rows', async () => {
    const folder = await mkdtemp(join(dir, 'stats-'));
    const rows: FeatureStatsRow[] = [
      { index: 1, density: 0.25, max_activation: 3.5, top_contexts: [{ text: 'a [[b]] c', token: 'b', activation: 3.5 }] },
      { index: 0, density: 0, max_activation: 0, top_contexts: [] },
    ];
    await writeFeatureStats(join(folder, FEATURE_STATS_FILE), rows);
    const loaded = (await loadFeatureStats(folder, 3))!;
    expect(loaded.file).toBe(join(folder, FEATURE_STATS_FILE));
    expect([loaded.stats.density(1), loaded.stats.maxActivation(1), loaded.stats.topContexts(1)]).toEqual([0.25, 3.5, rows[0]!.top_contexts]);
    expect(loaded.stats.has(2)).toBe(false);

    const forge = await mkdtemp(join(dir, 'forge-'));
    await writeFile(
      join(forge, 'labels.jsonl'),
      '{"index":0,"description":"ocean: sea","density":0.5,"max_activation":2,"top_contexts":[{"text":"the [[ sea]] is","activation":2}]}\n',
    );
    const fromLabels = (await loadFeatureStats(forge, 2))!;
    expect(fromLabels.stats.topContexts(0)).toEqual([{ text: 'the [[ sea]] is', token: ' sea', activation: 2 }]);

    const plain = await mkdtemp(join(dir, 'plain-'));
    await writeFile(join(plain, 'labels.jsonl'), '{"index":0,"description":"no statistics"}\n');
    expect(await loadFeatureStats(plain, 2)).toBeNull();
  });

  it('names the file, line and field of a bad row', async () => {
    const folder = await mkdtemp(join(dir, 'bad-'));
    const file = join(folder, FEATURE_STATS_FILE);
    for (const [content, message] of [
      ['{"index":5,"density":0.1}', `${file}: line 1 "index" is 5; expected a feature index in 0..2`],
      ['{"index":0,"density":"high"}', `${file}: line 1 "density" is "high"; expected a number >= 0`],
      ['{"index":0,"density":0.1}\nnot json', `${file}: line 2 is not valid JSON`],
    ]) {
      await writeFile(file, content!);
      await expect(loadFeatureStats(folder, 3)).rejects.toThrow(message!);
    }
  });
});

describe('LabelIndex', () => {
  const labels = new Map([
    [0, 'ocean: sea, waves, boat'],
    [1, 'the ocean at night'],
    [2, 'dragons breathing fire'],
    [3, 'fire and smoke in a city'],
    [4, 'ocean'],
  ]);
  const index = new LabelIndex(labels);

  it('ignores case, plurals and stop words', () => {
    expect(labelWords('The Dragons of the Seas')).toEqual(['dragon', 'sea']);
    expect(labelWords('the')).toEqual(['the']);
  });

  it('ranks by the rare-word-weighted share of the query found in the label, then by focus', () => {
    const results = index.search('Ocean', 10);
    expect(results.map((r) => r.index)).toEqual([4, 1, 0]);
    expect(results.every((r) => r.coverage === 1)).toBe(true);
    expect(results[0]!.score).toBe(1);
    // "dragon" is rarer among labels than "fire", so the dragon label covers more of the query
    const fire = index.search('dragon fire', 10);
    expect(fire.map((r) => r.index)).toEqual([2, 3]);
    expect(fire[1]!.coverage).toBeLessThan(0.5);
    expect(index.search('unicorn', 10)).toEqual([]);
  });

  it('resolves a phrase only to a label holding all of its words', () => {
    expect(index.resolvePhrase('the ocean')).toMatchObject({ index: 4, label: 'ocean', coverage: 1 });
    expect(index.resolvePhrase('breathing dragons')).toMatchObject({ index: 2 });
    expect(index.resolvePhrase('ocean dragons')).toBeNull();
  });
});

describe('findConstellations', () => {
  const labels = new Map([[10, 'ocean: sea'], [11, 'ocean: waves'], [12, 'sailing boats'], [20, 'fire'], [21, 'smoke']]);
  const at = (position: number, features: [number, number][]) => ({ position, features: features.map(([index, activation]) => ({ index, activation })) });

  it('groups features that share most of their positions and names them from their labels', () => {
    const tokens = [
      at(1, [[10, 3], [11, 2], [20, 0.5]]),
      at(2, [[10, 2], [11, 2], [12, 1]]),
      at(3, [[12, 1], [30, 1]]),
      at(4, [[10, 1], [11, 3]]),
      at(5, [[20, 2], [21, 2], [30, 1]]),
      at(6, [[20, 1], [21, 1]]),
    ];
    const found = findConstellations(tokens, (f) => labels.get(f));
    // {10, 11}: positions 1, 2, 4 (Jaccard 1), 11 first for its larger total; {20, 21}: 20 at 1, 5, 6 and 21 at 5, 6 (2 of 3);
    // 12 (2, 3) shares one position with 10; 30 (3, 5) shares one with 20: not linked
    expect(found).toEqual([
      { id: 'c1', name: 'ocean', features: [11, 10], positions: [1, 2, 4], strength: (5 + 4 + 4) / 3 },
      { id: 'c2', name: 'fire', features: [20, 21], positions: [5, 6], strength: (4 + 2) / 2 },
    ].map((c) => ({ ...c, strength: Number(c.strength.toFixed(4)) })));
  });

  it('falls back to the strongest label, then to the indices', () => {
    expect(constellationName([20, 21], (f) => labels.get(f))).toBe('fire');
    expect(constellationName([10, 11, 12], (f) => labels.get(f))).toBe('ocean');
    expect(constellationName([7, 8], () => undefined)).toBe('features 7, 8');
    expect(findConstellations([at(1, [[1, 1]])], () => undefined)).toEqual([]);
  });
});
