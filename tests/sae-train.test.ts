import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NormalRng } from '../src/models/random-llama.js';
import { writeSafetensors } from '../src/sae/safetensors.js';
import { Sae } from '../src/sae/sae.js';
import { loadSae } from '../src/sae/load.js';
import { saveSaeLens } from '../src/sae/saelens.js';
import { ActivationsReader, ActivationsWriter, readActivations, writeActivations } from '../src/sae/train/activations-file.js';
import { evaluateSae, type SaeMetrics } from '../src/sae/train/metrics.js';
import { trainTopKSae, type TopKTrainResult } from '../src/sae/train/topk-trainer.js';

const D = 32;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steerd-sae-train-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function unitRows(count: number, dim: number, rng: NormalRng, active = dim): Float32Array {
  const w = new Float32Array(count * dim);
  const row = new Float32Array(active);
  for (let r = 0; r < count; r++) {
    rng.fillNormal(row, 1);
    const norm = Math.hypot(...row);
    for (let i = 0; i < active; i++) w[r * dim + i] = row[i]! / norm;
  }
  return w;
}

interface Synthetic {
  rows: Float32Array;
  dictionary: Float32Array;
  atoms: number;
}

/**
 * Rows that are sums of `active` distinct atoms of a random unit-norm dictionary with coefficients in
 * [0.5, 1.5], plus N(0, 0.02²) noise and a constant offset (for b_dec to find). Atoms 0..hubs-1 are each
 * picked with probability hubRate first (counting towards `active`); `subspace` confines the atoms to the
 * first that many coordinates.
 */
function synthetic(o: { rows: number; atoms: number; active: number; seed: number; hubs?: number; hubRate?: number; subspace?: number }): Synthetic {
  const rng = new NormalRng(o.seed, 'synthetic');
  const uniform = (): number => rng.nextUint32() / 2 ** 32;
  const dictionary = unitRows(o.atoms, D, rng, o.subspace ?? D);
  const rows = new Float32Array(o.rows * D);
  const noise = new Float32Array(D);
  for (let r = 0; r < o.rows; r++) {
    const chosen = new Set<number>();
    for (let h = 0; h < (o.hubs ?? 0); h++) if (uniform() < o.hubRate!) chosen.add(h);
    while (chosen.size < o.active) chosen.add(Math.floor(uniform() * o.atoms));
    for (const a of chosen) {
      const c = 0.5 + uniform();
      for (let i = 0; i < D; i++) rows[r * D + i]! += c * dictionary[a * D + i]!;
    }
    rng.fillNormal(noise, 0.02);
    for (let i = 0; i < D; i++) rows[r * D + i]! += noise[i]! + 0.3;
  }
  return { rows, dictionary, atoms: o.atoms };
}

/** For each ground-truth atom, the best cosine with any decoder row. */
function bestCosines(truth: Synthetic, sae: Sae): number[] {
  return Array.from({ length: truth.atoms }, (_, a) => {
    let best = -1;
    for (let f = 0; f < sae.dSae; f++) {
      let dot = 0;
      for (let i = 0; i < D; i++) dot += truth.dictionary[a * D + i]! * sae.wDec[f * D + i]!;
      best = Math.max(best, dot);
    }
    return best;
  });
}

const summary = (m: SaeMetrics) => ({
  fvu: +m.fvu.toFixed(4),
  dead: m.deadLatents,
  maxOverMedian: +m.frequencyMaxOverMedian.toFixed(2),
  entropy: +m.frequencyEntropy.toFixed(3),
});

describe('trainTopKSae', () => {
  // 64 atoms in 32 dimensions, 3 per row. The linear encoder of an SAE cannot undo interference between atoms,
  // so much more overcomplete dictionaries (256 atoms in 32-d) bottom out near FVU 0.2 even when every atom is
  // found; 2× overcomplete keeps the FVU bar meaningful.
  const truth = synthetic({ rows: 10_000, atoms: 64, active: 3, seed: 1 });
  let trained: TopKTrainResult;

  it('recovers a known sparse dictionary with low FVU, no dead latents and unit-norm decoder rows', async () => {
    trained = await trainTopKSae(truth.rows, D, { dSae: 64, k: 3, hookLayer: 2, epochs: 12, batchSize: 64, threads: 1, seed: 0 });
    const { sae, report, history } = trained;
    expect(sae.architecture).toBe('topk');
    expect(sae.k).toBe(3);
    expect(sae.hookLayer).toBe(2);
    expect(sae.hookName).toBe('blocks.2.hook_resid_post');
    expect(report.evalSet).toBe('held-out');
    expect(report.eval.rows).toBe(500);
    expect(report.eval.fvu).toBeLessThan(0.1);
    expect(report.eval.l0).toBeCloseTo(3, 5);
    expect(report.eval.deadLatents).toBeLessThanOrEqual(2);
    expect(report.finalDeadFraction).toBeLessThanOrEqual(2 / 64);
    const recovered = bestCosines(truth, sae).filter((c) => c > 0.9).length / truth.atoms;
    console.log('dictionary recovery:', JSON.stringify({ ...summary(report.eval), recovered, seconds: +report.seconds.toFixed(2) }));
    expect(recovered).toBeGreaterThan(0.85);
    for (let f = 0; f < sae.dSae; f++) expect(Math.hypot(...sae.decoderRow(f))).toBeCloseTo(1, 5);
    // training got somewhere: the loss fell, steady from the start
    expect(history.at(-1)!.fvu).toBeLessThan(history[0]!.fvu / 5);
    expect(history).toHaveLength(report.options.totalSteps);
  });

  it('evaluates like the Sae class itself, and survives a save/load in SAELens layout', async () => {
    const { sae } = trained;
    const rows = truth.rows.subarray(0, 300 * D);
    const acts = sae.encode(rows, 300);
    const reconstruction = sae.decode(acts, 300);
    const mean = new Float64Array(D);
    for (let r = 0; r < 300; r++) for (let i = 0; i < D; i++) mean[i]! += rows[r * D + i]! / 300;
    let sse = 0;
    let total = 0;
    for (let j = 0; j < rows.length; j++) {
      sse += (rows[j]! - reconstruction[j]!) ** 2;
      total += (rows[j]! - mean[j % D]!) ** 2;
    }
    const metrics = evaluateSae(sae, rows);
    expect(metrics.fvu).toBeCloseTo(sse / total, 4);
    expect(metrics.l0).toBeCloseTo(acts.filter((a) => a > 0).length / 300, 6);
    for (let f = 0; f < sae.dSae; f++) {
      let fired = 0;
      for (let r = 0; r < 300; r++) if (acts[r * sae.dSae + f]! > 0) fired++;
      expect(metrics.frequencies[f]).toBeCloseTo(fired / 300, 9);
    }

    const folder = join(dir, 'trained-sae');
    await saveSaeLens(folder, sae);
    const loaded = await loadSae(folder, { nEmbd: D, nLayer: 4 });
    expect(loaded.architecture).toBe('topk');
    expect(loaded.k).toBe(3);
    expect(loaded.hookLayer).toBe(2);
    expect(loaded.wDec).toEqual(sae.wDec);
    expect(evaluateSae(loaded, rows).fvu).toBe(metrics.fvu);
  });

  it('AuxK revives latents that start dead (data confined to a subspace most latents point away from)', async () => {
    const data = synthetic({ rows: 10_000, atoms: 48, active: 2, subspace: 8, seed: 5 });
    const options = { dSae: 32, k: 2, hookLayer: 0, epochs: 6, batchSize: 64, threads: 1, balance: 0, seed: 0 };
    const off = await trainTopKSae(data.rows, D, { ...options, auxKCoef: 0 });
    const on = await trainTopKSae(data.rows, D, { ...options, auxKCoef: 1 / 32 });
    const table = { auxOff: summary(off.report.eval), auxOn: summary(on.report.eval) };
    console.log('AuxK on/off (32 latents):', JSON.stringify(table));
    expect(off.report.eval.deadLatents).toBeGreaterThanOrEqual(4);
    expect(on.report.eval.deadLatents).toBeLessThanOrEqual(off.report.eval.deadLatents / 2);
    expect(on.report.eval.fvu).toBeLessThan(off.report.eval.fvu);
    expect(on.history.some((h) => h.auxLoss > 0)).toBe(true);
    expect(off.history.every((h) => h.auxLoss === 0)).toBe(true);
  });

  it('the balance penalty evens out firing when a few directions are in almost every row', async () => {
    const data = synthetic({ rows: 8000, atoms: 64, active: 4, hubs: 3, hubRate: 0.95, seed: 2 });
    const options = { dSae: 64, k: 4, hookLayer: 0, epochs: 6, batchSize: 64, threads: 1, seed: 0 };
    const off = await trainTopKSae(data.rows, D, { ...options, balance: 0 });
    const on = await trainTopKSae(data.rows, D, { ...options, balance: 0.1 });
    console.log('balance on/off:', JSON.stringify({ balance0: summary(off.report.eval), balance01: summary(on.report.eval) }));
    expect(off.history.every((h) => h.balanceLoss === 0)).toBe(true);
    expect(on.report.eval.frequencyMaxOverMedian).toBeLessThan(off.report.eval.frequencyMaxOverMedian / 2);
    expect(on.report.eval.frequencyEntropy).toBeGreaterThan(off.report.eval.frequencyEntropy + 0.05);
    expect(on.report.eval.fvu).toBeLessThan(off.report.eval.fvu + 0.05);
  });

  it('is deterministic for a seed, whatever the thread count', async () => {
    const data = synthetic({ rows: 3000, atoms: 64, active: 3, seed: 3 });
    const train = (threads: number, seed: number) =>
      trainTopKSae(data.rows, D, { dSae: 64, k: 3, hookLayer: 0, epochs: 2, batchSize: 100, threads, seed });
    const [a, b, c, other] = [await train(1, 7), await train(1, 7), await train(2, 7), await train(1, 8)];
    expect(c.report.threadsUsed).toBe(2);
    for (const run of [b, c]) {
      expect(run.sae.wEnc).toEqual(a.sae.wEnc);
      expect(run.sae.wDec).toEqual(a.sae.wDec);
      expect(run.sae.bEnc).toEqual(a.sae.bEnc);
      expect(run.sae.bDec).toEqual(a.sae.bDec);
      expect(run.history.map((h) => h.loss)).toEqual(a.history.map((h) => h.loss));
    }
    expect(other.sae.wDec).not.toEqual(a.sae.wDec);
  });

  it('rejects non-finite inputs and bad options', async () => {
    const rows = new Float32Array(10 * D);
    rows[3 * D + 5] = NaN;
    await expect(trainTopKSae(rows, D, { dSae: 8, k: 2, hookLayer: 0 })).rejects.toThrow(/row 3 .* dimension 5/);
    await expect(trainTopKSae(new Float32Array(10 * D), D, { dSae: 8, k: 9, hookLayer: 0 })).rejects.toThrow(/k \(9\)/);
    await expect(trainTopKSae(new Float32Array(10 * D + 1), D, { dSae: 8, k: 2, hookLayer: 0 })).rejects.toThrow(/whole rows/);
  });
});

describe('activations file', () => {
  it('streams rows in and reads them back whole, by range and in chunks, with metadata', async () => {
    const path = join(dir, 'acts.safetensors');
    const data = synthetic({ rows: 1000, atoms: 16, active: 2, seed: 4 }).rows;
    const writer = await ActivationsWriter.create(path, D, { hook_layer: '3', model: 'synthetic' });
    await writer.append(data.subarray(0, 300 * D));
    await writer.append(data.subarray(300 * D));
    expect(writer.rows).toBe(1000);
    await writer.close();

    const whole = await readActivations(path);
    expect(whole).toMatchObject({ count: 1000, dIn: D, metadata: { hook_layer: '3', model: 'synthetic' } });
    expect(whole.rows).toEqual(data);
    expect((await readActivations(path, { maxRows: 10 })).rows).toEqual(data.subarray(0, 10 * D));

    const reader = await ActivationsReader.open(path);
    try {
      expect(await reader.read(997, 3)).toEqual(data.subarray(997 * D));
      await expect(reader.read(999, 2)).rejects.toThrow(RangeError);
      const seen: number[] = [];
      for await (const chunk of reader.chunks(400)) {
        expect(chunk.data).toEqual(data.subarray(chunk.rowFrom * D, (chunk.rowFrom + chunk.rows) * D));
        seen.push(chunk.rows);
      }
      expect(seen).toEqual([400, 400, 200]);
    } finally {
      await reader.close();
    }
  });

  it('is plain safetensors: the generic reader and other writers interoperate (F16, any single 2-D tensor)', async () => {
    const path = join(dir, 'small.safetensors');
    const rows = Float32Array.from({ length: 4 * 3 }, (_, i) => i / 4 - 1);
    await writeActivations(path, rows, 3);
    const { SafetensorsFile } = await import('../src/sae/safetensors.js');
    const file = await SafetensorsFile.open(path);
    expect((await file.read('activations')).shape).toEqual([4, 3]);
    await file.close();

    // F16 capture from another tool, under another name: exact in F16 for these values
    const half = new Uint16Array([0x3c00, 0xbc00, 0x3800, 0x0000, 0x4000, 0xc000]); // 1, -1, 0.5, 0, 2, -2
    const foreign = join(dir, 'foreign.safetensors');
    await writeSafetensors(foreign, { resid: { shape: [2, 3], dtype: 'F16', data: new Uint8Array(half.buffer) } });
    expect((await readActivations(foreign)).rows).toEqual(Float32Array.from([1, -1, 0.5, 0, 2, -2]));

    const ambiguous = join(dir, 'ambiguous.safetensors');
    await writeSafetensors(ambiguous, { a: { shape: [2, 3], data: new Float32Array(6) }, b: { shape: [1, 3], data: new Float32Array(3) } });
    await expect(ActivationsReader.open(ambiguous)).rejects.toThrow(/not exactly one 2-D tensor/);
  });
});

describe('steerd sae train (CLI)', () => {
  it('trains from an activations file and writes an SAELens folder with metrics.json', async () => {
    const acts = join(dir, 'cli-acts.safetensors');
    await writeActivations(acts, synthetic({ rows: 2000, atoms: 32, active: 2, seed: 6 }).rows, D, { hook_layer: '1' });
    const out = join(dir, 'cli-sae');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/sae-train.ts', '--activations', acts, '--out', out, '--d-sae', '32', '--k', '2', '--batch-size', '64', '--threads', '1', '--seed', '3'],
      { cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    expect(stderr).toMatch(/\[100%\] step 30\/30 .* rows\/s .* fvu /);
    expect(JSON.parse(stdout)).toMatchObject({ sae: out, l0: 2 });
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.options).toMatchObject({ dSae: 32, k: 2, hookLayer: 1, seed: 3, balance: 0.03 });
    expect(metrics.eval.frequencies).toHaveLength(32);
    const sae = await loadSae(out, { nEmbd: D, nLayer: 4 });
    expect(sae.hookLayer).toBe(1);
  });
});
