/**
 * steerd sae stats — runs a corpus through the model, reads the SAE's features on every token, and writes
 * their statistics (firing density, max activation, top contexts) beside the SAE as feature-stats.jsonl,
 * where the server finds them for the rarity tiers and the /v1/features endpoints.
 *
 *   npm run sae:stats -- --model MODEL.gguf --sae SAE --corpus FILE [options]
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { failWithUsage, gpuFlag, integerFlag, type Fail } from './cli-flags.js';
import { Engine } from '../engine/engine.js';
import { defaultServedSet } from '../models/default-model.js';
import { collectFeatureStats, corpusDocuments } from '../sae/collect-feature-stats.js';
import { DEFAULT_TOP_CONTEXTS } from '../sae/feature-stats-collector.js';
import { FEATURE_STATS_FILE, FeatureStats, RARITY_TIERS, writeFeatureStats } from '../sae/feature-stats.js';
import { loadSae } from '../sae/load.js';
import { SaeEncoder } from '../sae/sae-encoder.js';

const USAGE = `usage: npm run sae:stats -- --sae SAE --corpus FILE [options]

  --sae PATH          the SAE (any layout --sae of the server reads)
  --corpus FILE       text: JSONL with a "text" field per line, or plain text with blank lines between documents
  --model FILE        the GGUF model the SAE reads (default: the server's default model)
  --out FILE          where to write (default: ${FEATURE_STATS_FILE} beside the SAE's files)
  --max-tokens N      stop after N tokens (default: the whole corpus)
  --window N          tokens per forward pass; longer documents are cut (default 256)
  --top-contexts N    strongest contexts kept per feature (default ${DEFAULT_TOP_CONTEXTS})
  --threads N         CPU threads (default: physical cores)
  --gpu auto|cuda|vulkan|metal|cpu   compute backend for the model (default auto)`;

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    sae: { type: 'string' },
    corpus: { type: 'string' },
    out: { type: 'string' },
    'max-tokens': { type: 'string' },
    window: { type: 'string' },
    'top-contexts': { type: 'string' },
    threads: { type: 'string' },
    gpu: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const fail: Fail = failWithUsage('steerd sae stats', USAGE);
const intFlag = (flag: 'max-tokens' | 'window' | 'top-contexts' | 'threads', min: number) => integerFlag(fail, flag, values[flag], min);

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.sae) fail('--sae is required');
if (!values.corpus) fail('--corpus is required');
const gpu = gpuFlag(fail, values.gpu);
const maxTokens = intFlag('max-tokens', 1);
const windowTokens = intFlag('window', 2);
const topContexts = intFlag('top-contexts', 1);
const threads = intFlag('threads', 1);

const saePath = values.sae;
const modelPath = values.model ?? (await defaultServedSet()).model;
const documents = corpusDocuments(await readFile(values.corpus, 'utf8').catch((err: Error) => fail(err.message, 1)), values.corpus);
if (documents.length === 0) fail(`${values.corpus} holds no text`, 1);
const out = values.out ?? join((await stat(saePath).catch((err: Error) => fail(err.message, 1))).isDirectory() ? saePath : dirname(saePath), FEATURE_STATS_FILE);

const engine = await Engine.load({ modelPath, gpu, ...(threads ? { threads } : {}), parallel: 4, ctx: Math.max(windowTokens ?? 256, 8) }).catch((err: Error) =>
  fail(err.message, 1),
);
try {
  const sae = await loadSae(saePath, { nEmbd: engine.info.nEmbd, nLayer: engine.info.nLayer }).catch((err: Error) => fail(err.message, 1));
  const encoder = await SaeEncoder.create(sae, threads ? { threads } : {});
  console.error(`${documents.length} documents; SAE ${saePath}: ${sae.dSae} features at layer ${sae.hookLayer}; model ${modelPath}`);
  const started = performance.now();
  let lastReport = 0;
  const result = await collectFeatureStats({
    engine,
    encoder,
    documents,
    ...(windowTokens ? { windowTokens } : {}),
    ...(maxTokens ? { maxTokens } : {}),
    ...(topContexts ? { topContexts } : {}),
    onProgress: ({ tokens, documents: done }) => {
      const now = performance.now();
      if (now - lastReport < 2000) return;
      lastReport = now;
      console.error(`${tokens} tokens, ${done} documents, ${Math.round(tokens / ((now - started) / 1000))} tokens/s`);
    },
  });
  await writeFeatureStats(out, result.rows);
  const stats = new FeatureStats(sae.dSae, result.rows);
  const live = result.rows.filter((r) => r.density > 0).length;
  const tiers = Object.fromEntries(RARITY_TIERS.map((t) => [t, 0]));
  for (const row of result.rows) if (row.density > 0) tiers[stats.rarity(row.index)!]!++;
  const seconds = (performance.now() - started) / 1000;
  console.error(`${result.tokens} tokens from ${result.documents} documents in ${seconds.toFixed(1)} s; ${live} of ${sae.dSae} features fired; wrote ${out}`);
  console.log(JSON.stringify({ out, tokens: result.tokens, documents: result.documents, live_features: live, tiers }));
} finally {
  await engine.close();
}
