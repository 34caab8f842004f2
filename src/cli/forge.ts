/**
 * npm run forge — rebuilds the embedded storyworld model, its SAE and labels into models/storyworld/.
 * Deterministic for a given seed and thread count (llama.cpp's reductions depend on the thread split).
 *   --out DIR     where to write (default models/storyworld)
 *   --seed N      corpus, initialisation and sampling seed (default 1)
 *   --threads N   llama.cpp threads (default 2)
 *   --mini        the seconds-long miniature run the tests use
 *   --reuse-model DIR   keep the language model of an earlier run with the same model settings (its
 *                 metrics.json says) and redo only the later stages: SAE, labels, steering
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FULL_FORGE, MINI_FORGE } from '../forge/forge-config.js';
import { runForge } from '../forge/forge.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    seed: { type: 'string' },
    threads: { type: 'string' },
    mini: { type: 'boolean', default: false },
    'reuse-model': { type: 'string' },
  },
});
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const base = values.mini ? MINI_FORGE : FULL_FORGE;
const config = {
  ...base,
  seed: values.seed ? Number(values.seed) : base.seed,
  threads: values.threads ? Number(values.threads) : base.threads,
};
const out = path.resolve(values.out ?? path.join(root, 'models', 'storyworld'));
const reuseModelFrom = values['reuse-model'];
const result = await runForge(config, out, reuseModelFrom ? { reuseModelFrom: path.resolve(reuseModelFrom) } : {});
const m = result.metrics as { perplexity: unknown; conceptUsage: { rate: number }; steering: unknown };
console.log(JSON.stringify({ model: result.modelPath, sae: result.saeDir, metrics: result.metricsPath, perplexity: m.perplexity, conceptUsage: m.conceptUsage.rate }, null, 2));
