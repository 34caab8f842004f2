/** Loading GGUF files: quantized models work, bad files fail with one line naming the file. */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING } from '../src/engine/types.js';
import { LLAMA_FTYPE, loadAddon } from '../src/native/addon.js';
import { testModelPath } from './helpers/test-models.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'steerd-load-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function generate(engine: Engine) {
  return engine.generate({
    promptTokens: engine.tokenize('The fox ran to the sea.'),
    maxTokens: 12,
    stop: [],
    sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
    interventions: [],
    logprobs: false,
    topLogprobs: 0,
  }).result;
}

describe('model files', () => {
  it('loads a Q8_0-quantized copy, which generates close to the F16 original', async () => {
    const source = await testModelPath('small');
    const quantized = path.join(dir, 'small-q8_0.gguf');
    const { addon } = await loadAddon('cpu');
    await addon.quantizeModel(source, quantized, LLAMA_FTYPE.Q8_0, 2);
    const original = await Engine.load({ modelPath: source, ctx: 64, parallel: 1, threads: 1 });
    const q8 = await Engine.load({ modelPath: quantized, ctx: 64, parallel: 1, threads: 1 });
    try {
      const b = await generate(q8);
      expect(b.completionTokens).toBe(12);
      expect(q8.info.nLayer).toBe(original.info.nLayer);
      // a random model's logits are nearly flat, so compare the logits rather than greedy choices
      const tokens = original.tokenize('The fox ran to the sea.');
      const [x, y] = await Promise.all([original.evaluate(tokens, { logits: true }), q8.evaluate(tokens, { logits: true })]);
      for (let i = 0; i < tokens.length; i++) {
        const a = x.logits[i]!;
        const c = y.logits[i]!;
        let dot = 0, na = 0, nc = 0;
        for (let j = 0; j < a.length; j++) { dot += a[j]! * c[j]!; na += a[j]! ** 2; nc += c[j]! ** 2; }
        expect(dot / Math.sqrt(na * nc)).toBeGreaterThan(0.99);
      }
    } finally {
      await original.close();
      await q8.close();
    }
  });

  it('names a missing file', async () => {
    const missing = path.join(dir, 'nope.gguf');
    await expect(Engine.load({ modelPath: missing })).rejects.toThrow(`cannot load model ${missing}: no such file`);
  });

  it('names a file that is not GGUF', async () => {
    const text = path.join(dir, 'notes.gguf');
    await writeFile(text, 'this is not a model, just some text that is long enough');
    await expect(Engine.load({ modelPath: text })).rejects.toThrow(`cannot load model ${text}: not a GGUF file`);
  });

  it('names a truncated file (header intact, tensor data cut)', async () => {
    const whole = await readFile(await testModelPath('tiny'));
    const truncated = path.join(dir, 'truncated.gguf');
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length * 0.6)));
    await expect(Engine.load({ modelPath: truncated })).rejects.toThrow(new RegExp(`^cannot load model ${truncated}: .+`));
  });

  it('names a file whose header is cut', async () => {
    const whole = await readFile(await testModelPath('tiny'));
    const cut = path.join(dir, 'cut-header.gguf');
    await writeFile(cut, whole.subarray(0, 200));
    await expect(Engine.load({ modelPath: cut })).rejects.toThrow(new RegExp(`^cannot load model ${cut}: .*(truncated|invalid|failed to read|end of file)`, 'i'));
  });

  it('loads a model through a symlink-free copy path with spaces', async () => {
    const spaced = path.join(dir, 'a model with spaces.gguf');
    await copyFile(await testModelPath('tiny'), spaced);
    const engine = await Engine.load({ modelPath: spaced, ctx: 64, parallel: 1, threads: 1 });
    expect(engine.info.modelName).toBe('a model with spaces');
    await engine.close();
  });
});
