/**
 * The whole forge pipeline in miniature (seconds): corpus → tokenizer → llama.cpp training → evaluation →
 * SAE → labels → steering check. CI never retrains the real model; this keeps the pipeline working.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { MINI_FORGE } from '../src/forge/forge-config.js';
import { runForge } from '../src/forge/forge.js';
import { loadSae } from '../src/sae/load.js';

let dir: string | undefined;
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('miniature forge', () => {
  it('produces a loadable model with its chat template, an SAE with labels, and a metrics file', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'steerd-forge-'));
    const result = await runForge(MINI_FORGE, dir);

    const metrics = JSON.parse(await readFile(result.metricsPath, 'utf8'));
    expect(metrics.training).toHaveLength(MINI_FORGE.training.epochs);
    expect(metrics.training[0].trainLoss).toBeLessThan(Math.log(MINI_FORGE.vocabSize)); // it learned something
    expect(metrics.perplexity.model).toBeGreaterThan(1);
    expect(metrics.perplexity.bigram).toBeLessThan(metrics.perplexity.unigram);
    expect(metrics.sae.balanced.fvu).toBeGreaterThan(0);
    expect(metrics.sae.balanced.downstream.tokens).toBeGreaterThan(0);
    expect(metrics.sae.unbalanced.balance).toBe(0);
    expect(metrics.conceptUsage.samples).toBeGreaterThan(0);

    const engine = await Engine.load({ modelPath: result.modelPath, ctx: 256, parallel: 1, threads: 1 });
    try {
      expect(engine.info.chatTemplate).toContain('<|im_start|>');
      const sae = await loadSae(result.saeDir, engine.info);
      expect(sae.dSae).toBe(MINI_FORGE.sae.dSae);
      expect(sae.hookLayer).toBe(Math.floor(engine.info.nLayer / 2));
      expect(sae.labels.size).toBe(sae.dSae);
      const labels = (await readFile(path.join(result.saeDir, 'labels.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(labels[0]).toMatchObject({ index: 0, description: expect.any(String), density: expect.any(Number) });
    } finally {
      await engine.close();
    }
    // the working files are gone; only what is served stays
    await expect(stat(path.join(dir, '.work'))).rejects.toThrow();
  }, 120_000);
});
