/**
 * npm run eval — steering against prompting on one model: concepts × prompts × arms × strengths through the
 * /v1/compare service (in process, no HTTP), written as a report folder (report.md, PNG plots, raw records).
 *
 *   npm run eval -- [--model m.gguf] [--sae dir] [--config eval.json] [--out dir] [--threads N] [--parallel N]
 *                   [--concepts N] [--prompts N] [--strengths 0.5,1,2] [--max-tokens N] [--seed N] [--n N]
 *
 * Without --config it runs the storyworld preset (storyworld.ts); without --model, the model `npm start`
 * serves (the storyworld model and SAE when present, else the random demo model).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine } from '../../src/engine/engine.js';
import { Metrics } from '../../src/metrics.js';
import { defaultServedSet } from '../../src/models/default-model.js';
import { loadSae } from '../../src/sae/load.js';
import { createServices } from '../../src/services/create-services.js';
import { describeMachine } from '../machine.js';
import { parseEvalConfig, readEvalConfig, type EvalConfig } from './config.js';
import { writeReport } from './report.js';
import { measureThroughput, runEvaluation } from './run-eval.js';
import { storyworldConfig } from './storyworld.js';

export interface EvalCliOptions {
  model?: string;
  sae?: string;
  config?: string;
  out?: string;
  threads?: number;
  parallel: number;
  ctx: number;
  concepts?: number;
  prompts?: number;
  strengths?: number[];
  maxTokens?: number;
  seed?: number;
  n?: number;
  /** skip the each-arm-alone throughput runs */
  skipThroughput: boolean;
  log: (line: string) => void;
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer (got ${value})`);
  return n;
}

export function parseEvalArgs(argv: string[]): EvalCliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      sae: { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      threads: { type: 'string' },
      parallel: { type: 'string' },
      ctx: { type: 'string' },
      concepts: { type: 'string' },
      prompts: { type: 'string' },
      strengths: { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      n: { type: 'string' },
      'skip-throughput': { type: 'boolean' },
    },
    strict: true,
  });
  const strengths = values.strengths?.split(',').map((s) => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n)) throw new Error(`--strengths takes numbers separated by commas (got ${values.strengths})`);
    return n;
  });
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new Error(`--seed takes an integer (got ${values.seed})`);
  return {
    model: values.model,
    sae: values.sae,
    config: values.config,
    out: values.out,
    threads: positiveInt(values.threads, 'threads'),
    parallel: positiveInt(values.parallel, 'parallel') ?? 4,
    ctx: positiveInt(values.ctx, 'ctx') ?? 1024,
    concepts: positiveInt(values.concepts, 'concepts'),
    prompts: positiveInt(values.prompts, 'prompts'),
    strengths,
    maxTokens: positiveInt(values['max-tokens'], 'max-tokens'),
    seed,
    n: positiveInt(values.n, 'n'),
    skipThroughput: values['skip-throughput'] ?? false,
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

/** The config file (or preset) with the command line's overrides and limits applied, checked again. */
async function effectiveConfig(options: EvalCliOptions): Promise<EvalConfig> {
  const base = options.config ? await readEvalConfig(options.config) : storyworldConfig();
  return parseEvalConfig({
    ...base,
    concepts: base.concepts.slice(0, options.concepts ?? base.concepts.length),
    prompts: base.prompts.slice(0, options.prompts ?? base.prompts.length),
    strengths: options.strengths ?? base.strengths,
    max_tokens: options.maxTokens ?? base.max_tokens,
    seed: options.seed ?? base.seed,
    n: options.n ?? base.n,
  });
}

/** Runs the whole evaluation and writes the report; returns the folder. */
export async function runEvalCommand(options: EvalCliOptions, argv: string[]): Promise<string> {
  const startedAt = new Date();
  const config = await effectiveConfig(options);
  const served = options.model ? { model: options.model, sae: options.sae } : await defaultServedSet(options.sae);
  const out = path.resolve(options.out ?? path.join('reports', `eval-${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}`));
  const engine = await Engine.load({ modelPath: served.model, ctx: options.ctx, parallel: options.parallel, threads: options.threads });
  try {
    const sae = served.sae ? { path: served.sae, sae: await loadSae(served.sae, { nEmbd: engine.info.nEmbd, nLayer: engine.info.nLayer }) } : null;
    const services = await createServices({ engine, metrics: new Metrics({ defaultMetrics: false }), sae, warn: options.log });
    const comparer = services.compare!;
    const model = engine.info.modelName;
    options.log(`evaluating ${model}: ${config.concepts.length} concepts × ${config.prompts.length} prompts × ${config.arms.length} arms × ${config.strengths.length} strengths`);
    const records = await runEvaluation(config, comparer, {
      model,
      onProgress: (done, total) => options.log(`  ${done}/${total} compare calls`),
    });
    const middle = [...config.strengths].sort((a, b) => a - b)[config.strengths.length >> 1]!;
    const throughput = options.skipThroughput ? [] : await measureThroughput(config, comparer, { model, sequences: engine.info.nParallel, strength: middle });
    const files = await writeReport(out, {
      config,
      records,
      throughput,
      model: {
        path: path.relative(process.cwd(), served.model) || served.model,
        name: model,
        nLayer: engine.info.nLayer,
        nEmbd: engine.info.nEmbd,
        nVocab: engine.info.nVocab,
        steerLayer: services.model!.steer_layer,
        sae: served.sae ?? null,
      },
      machine: describeMachine(),
      command: ['npm run eval --', ...argv].join(' '),
      startedAt,
      seconds: (Date.now() - startedAt.getTime()) / 1000,
    });
    options.log(`wrote ${files.map((f) => path.join(out, f)).join(', ')}`);
    return out;
  } finally {
    await engine.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  try {
    await runEvalCommand(parseEvalArgs(argv), argv);
  } catch (err) {
    process.stderr.write(`eval: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
