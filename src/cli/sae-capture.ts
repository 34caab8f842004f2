/**
 * steerd sae capture — runs a corpus through a GGUF model and writes the residual stream at one layer, one
 * row per token, to the safetensors activations file that `steerd sae train` reads.
 *
 *   npm run sae:capture -- --corpus FILE --out FILE.safetensors [options]
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { failWithUsage, gpuFlag, integerFlag, type Fail } from './cli-flags.js';
import { Engine } from '../engine/engine.js';
import { defaultServedSet } from '../models/default-model.js';
import { captureActivationsToFile } from '../sae/capture-activations-file.js';
import { corpusDocuments } from '../sae/collect-feature-stats.js';

const USAGE = `usage: npm run sae:capture -- --corpus FILE --out FILE.safetensors [options]

  --corpus FILE       text: JSONL with a "text" field per line, or plain text with blank lines between documents
  --out FILE          the activations file to write (safetensors, one F32 tensor "activations" [rows, n_embd])
  --model FILE        the GGUF model (default: the server's default model)
  --layer L           the block whose output is captured (default: the middle layer, n_layer / 2)
  --max-rows N        stop after N rows (tokens) (default: the whole corpus)
  --window N          tokens per forward pass; longer documents are cut into windows (default 256)
  --threads N         CPU threads (default: physical cores)
  --gpu auto|cuda|vulkan|metal|cpu   compute backend (default auto)`;

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    layer: { type: 'string' },
    'max-rows': { type: 'string' },
    window: { type: 'string' },
    threads: { type: 'string' },
    gpu: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const fail: Fail = failWithUsage('steerd sae capture', USAGE);
const intFlag = (flag: 'layer' | 'max-rows' | 'window' | 'threads', min: number) => integerFlag(fail, flag, values[flag], min);

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.corpus) fail('--corpus is required');
if (!values.out) fail('--out is required');
const gpu = gpuFlag(fail, values.gpu);
const layerFlag = intFlag('layer', 0);
const maxRows = intFlag('max-rows', 1);
const windowTokens = intFlag('window', 2) ?? 256;
const threads = intFlag('threads', 1);

const modelPath = values.model ?? (await defaultServedSet()).model;
const documents = corpusDocuments(await readFile(values.corpus, 'utf8').catch((err: Error) => fail(err.message, 1)), values.corpus);
if (documents.length === 0) fail(`${values.corpus} holds no text`, 1);

const engine = await Engine.load({ modelPath, gpu, ...(threads ? { threads } : {}), parallel: 4, ctx: windowTokens }).catch((err: Error) => fail(err.message, 1));
const abort = new AbortController();
process.once('SIGINT', () => {
  console.error('\ninterrupted; the partial file is discarded');
  abort.abort();
});
try {
  const layer = layerFlag ?? Math.floor(engine.info.nLayer / 2);
  if (layer >= engine.info.nLayer) fail(`--layer must be below the model's ${engine.info.nLayer} layers (got ${layer})`);
  console.error(`${documents.length} documents through ${modelPath} (${engine.info.nLayer} layers, n_embd ${engine.info.nEmbd}); capturing layer ${layer}`);
  const started = performance.now();
  let lastReport = 0;
  const result = await captureActivationsToFile({
    engine,
    documents,
    layer,
    out: values.out,
    windowTokens,
    ...(maxRows ? { maxRows } : {}),
    metadata: { model: basename(modelPath), captured_by: 'steerd sae capture', corpus: basename(values.corpus) },
    signal: abort.signal,
    onProgress: ({ rows, documents: done }) => {
      const now = performance.now();
      if (now - lastReport < 2000) return;
      lastReport = now;
      console.error(`${rows} rows, ${done} of ${documents.length} documents, ${Math.round(rows / ((now - started) / 1000))} rows/s`);
    },
  }).catch((err: Error) => fail(err.message, 1));
  const seconds = (performance.now() - started) / 1000;
  console.error(`${result.rows} rows × ${engine.info.nEmbd} from ${result.documents} documents in ${seconds.toFixed(1)} s; wrote ${values.out}`);
  console.log(JSON.stringify({ out: values.out, rows: result.rows, documents: result.documents, layer, d_in: engine.info.nEmbd }));
} finally {
  await engine.close();
}
