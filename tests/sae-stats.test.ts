/**
 * `npm run sae:stats` end to end on the tiny model and a small SAE written by the test: the command writes
 * feature-stats.jsonl beside the SAE, and its numbers match a reference computed here from the same windows'
 * residuals with the plain Sae.encode.
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { FEATURE_STATS_FILE, loadFeatureStats, type FeatureStatsRow } from '../src/sae/feature-stats.js';
import { loadSae } from '../src/sae/load.js';
import { testModelPath } from './helpers/test-models.js';
import { testSae, writeTestSae } from './helpers/test-sae.js';
import { loadTestEngine } from './helpers/test-server.js';

const WINDOW = 12;
const DOCUMENTS = [
  'The sea was calm and the boats rested in the harbour.',
  'A dragon slept under the mountain, dreaming of gold and fire, while the village below baked bread for the winter festival.',
  'Rain fell on the city.',
];

let engine: Engine;
let folder: string;
let corpus: string;

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 4 });
  folder = await writeTestSae(testSae({ dIn: engine.info.nEmbd, dSae: 48, hookLayer: 2, k: 4, seed: 5 }));
  corpus = join(folder, 'corpus.txt');
  await writeFile(corpus, DOCUMENTS.join('\n\n') + '\n');
});

afterAll(async () => {
  await engine?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('npm run sae:stats', () => {
  it('writes density, max activation and top contexts per feature beside the SAE, matching a reference', async () => {
    const model = await testModelPath('tiny');
    const { stdout } = await promisify(execFile)(
      'npx',
      ['tsx', 'src/cli/sae-stats.ts', '--model', model, '--sae', folder, '--corpus', corpus, '--window', String(WINDOW), '--threads', '1', '--top-contexts', '3'],
      { timeout: 60_000 },
    );
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { out: string; tokens: number; documents: number; live_features: number };
    expect(summary.out).toBe(join(folder, FEATURE_STATS_FILE));
    expect(summary.documents).toBe(3);

    // reference: the same windows (BOS + up to WINDOW - 1 tokens), residuals at layer 2, plain encode
    const sae = await loadSae(folder, { nEmbd: engine.info.nEmbd, nLayer: engine.info.nLayer });
    const { bos } = engine.info;
    const fired = new Array<number>(sae.dSae).fill(0);
    const max = new Array<number>(sae.dSae).fill(0);
    let tokens = 0;
    for (const doc of DOCUMENTS) {
      const body = engine.tokenize(doc, { addSpecial: true }).slice(1);
      for (let at = 0; at < body.length; at += WINDOW - 1) {
        const window = [bos, ...body.slice(at, at + WINDOW - 1)];
        const [rows] = await engine.captureResiduals(window, [sae.hookLayer]);
        const acts = sae.encode(rows!.subarray(sae.dIn), window.length - 1);
        tokens += window.length - 1;
        acts.forEach((a, i) => {
          const f = i % sae.dSae;
          if (a > 0) fired[f]!++;
          max[f] = Math.max(max[f]!, a);
        });
      }
    }
    expect(summary.tokens).toBe(tokens);

    const lines = (await readFile(summary.out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as FeatureStatsRow);
    expect(lines.map((l) => l.index)).toEqual(Array.from({ length: sae.dSae }, (_, f) => f));
    expect(summary.live_features).toBe(fired.filter((n) => n > 0).length);
    expect(summary.live_features).toBeGreaterThan(4);
    for (const row of lines) {
      expect(row.density, `feature ${row.index}`).toBeCloseTo(fired[row.index]! / tokens, 5);
      expect(Math.abs(row.max_activation - max[row.index]!), `feature ${row.index}`).toBeLessThan(1e-3 * (1 + max[row.index]!));
      expect(row.top_contexts.length).toBe(Math.min(3, fired[row.index]!));
      if (row.top_contexts.length > 0) {
        expect(row.top_contexts[0]!.activation).toBe(row.max_activation);
        for (const c of row.top_contexts) expect(c.text).toContain(`[[${c.token}]]`);
        expect(row.top_contexts.map((c) => c.activation)).toEqual([...row.top_contexts.map((c) => c.activation)].sort((a, b) => b - a));
      }
    }
    // the server reads it back, with rarity tiers for every feature
    const loaded = (await loadFeatureStats(folder, sae.dSae))!;
    expect(loaded.file).toBe(summary.out);
    expect(new Set(lines.filter((l) => l.density > 0).map((l) => loaded.stats.rarity(l.index))).size).toBeGreaterThan(1);
  }, 90_000);

  it('stops with a usage line when --corpus is missing', async () => {
    const err = await promisify(execFile)('npx', ['tsx', 'src/cli/sae-stats.ts', '--sae', folder]).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('--corpus is required');
  });
});
