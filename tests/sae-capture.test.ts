/**
 * `steerd sae capture` then `steerd sae train`, through the bin script, on the tiny model: the capture holds
 * exactly the residual rows of the corpus's windows at the asked layer (BOS rows left out, compared with rows
 * captured here), says which layer it came from, and the trainer reads it as it is.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { ActivationsReader } from '../src/sae/train/activations-file.js';
import { testModelPath } from './helpers/test-models.js';
import { loadTestEngine } from './helpers/test-server.js';

const WINDOW = 10;
const LAYER = 1;
const DOCUMENTS = ['The sea was calm and the boats rested in the harbour, far from the storm.', 'Rain fell on the city.'];
const steerd = (args: string[]) => promisify(execFile)('node', ['bin/steerd.mjs', ...args], { timeout: 60_000 });

let engine: Engine;
let folder: string;

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 4 });
  folder = await mkdtemp(join(tmpdir(), 'steerd-capture-'));
  await writeFile(join(folder, 'corpus.txt'), DOCUMENTS.join('\n\n') + '\n');
});

afterAll(async () => {
  await engine?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('steerd sae capture', () => {
  it('writes every window’s residual rows at the layer, which steerd sae train then reads', async () => {
    const model = await testModelPath('tiny');
    const out = join(folder, 'acts.safetensors');
    const { stdout } = await steerd(['sae', 'capture', '--model', model, '--corpus', join(folder, 'corpus.txt'), '--out', out, '--layer', String(LAYER), '--window', String(WINDOW), '--threads', '1']);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { rows: number; documents: number; layer: number; d_in: number };
    expect(summary).toMatchObject({ documents: 2, layer: LAYER, d_in: engine.info.nEmbd });

    // reference: BOS + up to WINDOW - 1 tokens per window, the rows after BOS
    const { bos, nEmbd } = engine.info;
    const expected: Float32Array[] = [];
    for (const doc of DOCUMENTS) {
      const body = engine.tokenize(doc, { addSpecial: true }).slice(1);
      for (let at = 0; at < body.length; at += WINDOW - 1) {
        const [rows] = await engine.captureResiduals([bos, ...body.slice(at, at + WINDOW - 1)], [LAYER]);
        expected.push(rows!.subarray(nEmbd));
      }
    }
    const reference = new Float32Array(expected.reduce((n, r) => n + r.length, 0));
    expected.reduce((at, r) => (reference.set(r, at), at + r.length), 0);

    const reader = await ActivationsReader.open(out);
    try {
      expect(reader.metadata).toMatchObject({ hook_layer: String(LAYER), hook_name: `blocks.${LAYER}.hook_resid_post`, captured_by: 'steerd sae capture' });
      expect([reader.rows, reader.dIn]).toEqual([reference.length / nEmbd, nEmbd]);
      expect(summary.rows).toBe(reader.rows);
      const rows = await reader.read(0, reader.rows);
      let worst = 0;
      for (let i = 0; i < rows.length; i++) worst = Math.max(worst, Math.abs(rows[i]! - reference[i]!));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await reader.close();
    }

    // --max-rows stops early
    const { stdout: capped } = await steerd(['sae', 'capture', '--model', model, '--corpus', join(folder, 'corpus.txt'), '--out', join(folder, 'few.safetensors'), '--max-rows', '5', '--threads', '1']);
    expect(JSON.parse(capped.trim().split('\n').at(-1)!)).toMatchObject({ rows: 5, layer: Math.floor(engine.info.nLayer / 2) });

    // the trainer takes the layer from the file
    const saeDir = join(folder, 'sae');
    await steerd(['sae', 'train', '--activations', out, '--out', saeDir, '--d-sae', '16', '--k', '2', '--threads', '1', '--eval-rows', '4']);
    const cfg = JSON.parse(await readFile(join(saeDir, 'cfg.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ d_in: nEmbd, d_sae: 16 });
    expect(JSON.stringify(cfg)).toContain(`blocks.${LAYER}.hook_resid_post`);
  }, 120_000);

  it('answers a bad command with its usage and exit code 2', async () => {
    const missing = await steerd(['sae', 'capture', '--corpus', 'x.txt']).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(missing?.code).toBe(2);
    expect(missing?.stderr).toContain('--out is required');
    const unknown = await steerd(['sae', 'squash']).then(() => null, (e: { code: number; stderr: string }) => e);
    expect(unknown?.code).toBe(2);
    expect(unknown?.stderr).toContain('unknown sae command "squash"');
  });
});
