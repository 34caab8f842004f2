/**
 * steerd sae train — trains a TopK SAE on captured residual activations and saves it in the SAELens layout
 * that `steerd --sae DIR` (and SAELens) load, with metrics.json beside it.
 *
 *   npm run sae:train -- --activations FILE --out DIR --d-sae N --k N [options]
 *
 * FILE is a safetensors file with one 2-D tensor `activations` [rows, d_in] (see
 * src/sae/train/activations-file.ts). Progress goes to stderr, about one line per 5% of the run.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveSaeLens } from '../sae/saelens.js';
import { ActivationsReader } from '../sae/train/activations-file.js';
import { trainTopKSae, type TopKTrainReport } from '../sae/train/topk-trainer.js';
import { DEFAULT_AUX_K_COEF, DEFAULT_BALANCE, DEFAULT_BATCH_SIZE, type TrainHistoryEntry, type TrainProgress } from '../sae/train/topk-train-options.js';

const USAGE = `usage: npm run sae:train -- --activations FILE --out DIR --d-sae N --k N [options]

  --activations FILE  safetensors file with a 2-D "activations" tensor [rows, d_in]
  --out DIR           where to write cfg.json, sae_weights.safetensors and metrics.json
  --d-sae N           number of latents
  --k N               latents active per row
  --layer L           residual layer the activations come from (default: the file's hook_layer metadata)
  --epochs N          passes over the rows (default 1)
  --batch-size N      rows per step (default ${DEFAULT_BATCH_SIZE})
  --lr X              peak learning rate (default 2e-4·√(2^14/d_sae)·√(768/d_in), at most 3e-2)
  --balance X         over-use penalty strength, 0 disables (default ${DEFAULT_BALANCE})
  --aux-k-coef X      AuxK loss coefficient, 0 disables (default ${DEFAULT_AUX_K_COEF})
  --aux-k N           dead latents AuxK uses per row (default d_in/2)
  --dead-window N     rows without firing after which a latent counts as dead (default: scaled to the run)
  --eval-rows N       rows held out for the final metrics (default 5%, at most 16384)
  --max-rows N        use only the first N rows of the file
  --threads N         threads (default: available cores, at most 8)
  --seed N            seed for the split, initialisation and shuffling (default 0)`;

const { values } = parseArgs({
  options: {
    activations: { type: 'string' },
    out: { type: 'string' },
    'd-sae': { type: 'string' },
    k: { type: 'string' },
    layer: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    balance: { type: 'string' },
    'aux-k-coef': { type: 'string' },
    'aux-k': { type: 'string' },
    'dead-window': { type: 'string' },
    'eval-rows': { type: 'string' },
    'max-rows': { type: 'string' },
    threads: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function fail(message: string, code = 2): never {
  console.error(`steerd sae train: ${message}${code === 2 ? `\n\n${USAGE}` : ''}`);
  process.exit(code);
}

/** The flag's value as a number, undefined when absent; integer flags must be whole numbers. */
function numberFlag(flag: keyof typeof values, kind: 'integer' | 'number'): number | undefined {
  const text = values[flag];
  if (text === undefined || typeof text !== 'string') return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || (kind === 'integer' && !Number.isSafeInteger(value))) {
    fail(`--${flag} must be ${kind === 'integer' ? 'an integer' : 'a number'} (got "${text}")`);
  }
  return value;
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.activations) fail('--activations is required');
if (!values.out) fail('--out is required');
const dSae = numberFlag('d-sae', 'integer') ?? fail('--d-sae is required');
const k = numberFlag('k', 'integer') ?? fail('--k is required');

const reader = await ActivationsReader.open(values.activations).catch((err: Error) => fail(err.message, 1));
const layerFromFile = reader.metadata.hook_layer !== undefined ? Number(reader.metadata.hook_layer) : undefined;
const hookLayer = numberFlag('layer', 'integer') ?? (Number.isSafeInteger(layerFromFile) ? layerFromFile! : undefined);
if (hookLayer === undefined) {
  await reader.close();
  fail(`${values.activations} does not say which layer it was captured at (no hook_layer metadata); pass --layer`);
}
const maxRows = numberFlag('max-rows', 'integer');
const count = Math.min(reader.rows, maxRows ?? Infinity);
console.error(`reading ${count} rows × ${reader.dIn} (${reader.dtype}) from ${values.activations}, layer ${hookLayer}`);
const rows = await reader.read(0, count).finally(() => reader.close());

const abort = new AbortController();
process.once('SIGINT', () => {
  console.error('\ninterrupted; stopping after this step');
  abort.abort();
});

const optional = <T>(key: string, value: T | undefined): Record<string, T> => (value === undefined ? {} : { [key]: value });
const result = await trainTopKSae(rows, reader.dIn, {
  dSae,
  k,
  hookLayer,
  ...optional('epochs', numberFlag('epochs', 'integer')),
  ...optional('batchSize', numberFlag('batch-size', 'integer')),
  ...optional('lr', numberFlag('lr', 'number')),
  ...optional('balance', numberFlag('balance', 'number')),
  ...optional('auxKCoef', numberFlag('aux-k-coef', 'number')),
  ...optional('auxK', numberFlag('aux-k', 'integer')),
  ...optional('deadWindowRows', numberFlag('dead-window', 'integer')),
  ...optional('evalRows', numberFlag('eval-rows', 'integer')),
  ...optional('threads', numberFlag('threads', 'integer')),
  ...optional('seed', numberFlag('seed', 'integer')),
  onProgress: (p) => console.error(progressLine(p)),
  signal: abort.signal,
}).catch((err: Error) => fail(err.name === 'AbortError' ? 'interrupted; nothing saved' : err.message, 1));

const { report, history, sae } = result;
if (report.threadWarning) console.error(`warning: ${report.threadWarning}`);
await saveSaeLens(values.out, sae, {
  metadata: { trained_by: 'steerd sae train', activations: values.activations, ...reportedOptions(report) },
});
const metricsFile = join(values.out, 'metrics.json');
await writeFile(metricsFile, JSON.stringify(metricsJson(report, history), null, 2) + '\n');
const e = report.eval;
console.error(
  `done in ${formatDuration(report.seconds)} (${Math.round(report.rowsPerSecond)} rows/s on ${report.threadsUsed} thread(s)): ` +
    `${report.evalSet} FVU ${e.fvu.toFixed(4)}, L0 ${e.l0.toFixed(1)}, dead ${(100 * e.deadFraction).toFixed(1)}%, ` +
    `max/median frequency ${e.frequencyMaxOverMedian.toFixed(1)}, frequency entropy ${e.frequencyEntropy.toFixed(3)}`,
);
console.log(JSON.stringify({ sae: values.out, metrics: metricsFile, fvu: e.fvu, l0: e.l0, deadFraction: e.deadFraction }));

function progressLine(p: TrainProgress): string {
  const percent = ((100 * p.rowsDone) / p.totalRows).toFixed(0).padStart(3);
  const eta = p.rowsDone > 0 ? (p.elapsedSeconds * (p.totalRows - p.rowsDone)) / p.rowsDone : 0;
  return (
    `[${percent}%] step ${p.step}/${p.totalSteps} epoch ${p.epoch + 1}  ${Math.round(p.rowsPerSecond)} rows/s  ` +
    `fvu ${p.fvu.toFixed(4)}  aux ${p.auxLoss.toFixed(4)}  balance ${p.balanceLoss.toFixed(4)}  ` +
    `dead ${(100 * p.deadFraction).toFixed(1)}%  lr ${p.lr.toExponential(2)}  eta ${formatDuration(eta)}`
  );
}

function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

function reportedOptions(r: TopKTrainReport): Record<string, unknown> {
  const { options } = r;
  return {
    training: { ...options, bDecInit: r.bDecInit, inputScale: r.inputScale, rowsTrained: r.rowsTrained },
    eval_fvu: r.eval.fvu,
    eval_l0: r.eval.l0,
  };
}

/** The report with per-latent frequencies as a plain list, and at most ~1000 history points. */
function metricsJson(r: TopKTrainReport, h: TrainHistoryEntry[]): unknown {
  const every = Math.max(1, Math.ceil(h.length / 1000));
  return {
    ...r,
    eval: { ...r.eval, frequencies: Array.from(r.eval.frequencies) },
    history: h.filter((_, i) => i % every === 0 || i === h.length - 1),
  };
}
