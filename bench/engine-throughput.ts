/**
 * Decode throughput of the engine against node-llama-cpp alone, and the cost of steering.
 * Usage: npm run bench:engine -- [--embd 1024 --layers 8 --ff 2816 --vocab 32000 --tokens 64 --runs 5]
 * Runs one configuration at a time: ggml threads busy-wait, so nothing else should run meanwhile.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { getLlama, LlamaCompletion } from 'node-llama-cpp';
import { Engine } from '../src/engine/engine.js';
import { DEFAULT_SAMPLING, type Intervention } from '../src/engine/types.js';
import { ensureRandomLlamaModel, randomLlamaParamCount } from '../src/models/random-llama.js';
import { describeMachine, median, table } from './machine.js';

const { values: args } = parseArgs({
  options: {
    embd: { type: 'string', default: '1024' },
    layers: { type: 'string', default: '8' },
    ff: { type: 'string', default: '2816' },
    vocab: { type: 'string', default: '32000' },
    tokens: { type: 'string', default: '64' },
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1,2' },
  },
});
const modelOptions = {
  seed: 1,
  nEmbd: Number(args.embd),
  nLayer: Number(args.layers),
  nHead: Number(args.embd) / 64,
  nFf: Number(args.ff),
  nCtxTrain: 2048,
  vocabSize: Number(args.vocab),
  dtype: 'f16' as const,
};
const TOKENS = Number(args.tokens);
const RUNS = Number(args.runs);
const PROMPT = 'Once upon a time, in a small town by the sea, there lived';
const modelPath = path.resolve(
  `.cache/bench-models/random-${modelOptions.nEmbd}x${modelOptions.nLayer}-ff${modelOptions.nFf}-v${modelOptions.vocabSize}-f16.gguf`,
);

function vector(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * scale);
}

async function nodeLlamaCppAlone(threads: number): Promise<number> {
  const llama = await getLlama({ build: 'never', gpu: false });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 512, threads, batchSize: 512 });
  const sequence = context.getSequence();
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const speeds: number[] = [];
  for (let run = 0; run <= RUNS; run++) {
    let first = 0;
    let count = 0;
    await completion.generateCompletion(PROMPT, {
      maxTokens: TOKENS,
      temperature: 0,
      onToken: () => {
        if (count++ === 0) first = performance.now();
      },
    });
    const elapsed = (performance.now() - first) / 1000;
    if (run > 0) speeds.push((count - 1) / elapsed); // run 0 warms up
    await sequence.clearHistory();
  }
  await context.dispose();
  await model.dispose();
  return median(speeds);
}

/** aggregate generated tokens/s of `streams` concurrent greedy generations, from the last first token on */
async function engineOnce(engine: Engine, streams: number, steer: (i: number) => Intervention[]): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: streams }, (_, i) =>
      engine.generate({
        promptTokens: engine.tokenize(PROMPT),
        maxTokens: TOKENS,
        stop: [],
        sampling: { ...DEFAULT_SAMPLING, temperature: 0 },
        interventions: steer(i),
        logprobs: false,
        topLogprobs: 0,
      }).result,
    ),
  );
  const firstToken = Math.max(...results.map((r) => r.timeToFirstTokenMs)) + started;
  const generated = results.reduce((sum, r) => sum + r.completionTokens - 1, 0);
  return generated / ((performance.now() - firstToken) / 1000);
}

/** plain and steered runs alternate, so drift in the machine's speed hits both alike */
async function engineCompare(
  engine: Engine,
  streams: number,
  steer: (i: number) => Intervention[],
): Promise<{ plain: number; steered: number }> {
  await engineOnce(engine, streams, () => []); // warm-up
  const plain: number[] = [];
  const steered: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    plain.push(await engineOnce(engine, streams, () => []));
    steered.push(await engineOnce(engine, streams, steer));
  }
  return { plain: median(plain), steered: median(steered) };
}

const t0 = performance.now();
await ensureRandomLlamaModel(modelPath, modelOptions);
console.log(`model: ${modelPath} (${(randomLlamaParamCount(modelOptions) / 1e6).toFixed(0)}M parameters, F16), ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`machine: ${describeMachine()}`);
console.log(`decode tokens/s, median of ${RUNS} runs of ${TOKENS} tokens (greedy)\n`);

const rows: (string | number)[][] = [];
for (const threads of args.threads.split(',').map(Number)) {
  const alone = await nodeLlamaCppAlone(threads);
  const engine = await Engine.load({ modelPath, ctx: 512, parallel: 8, threads, gpu: 'cpu' });
  const layer = Math.floor(engine.info.nLayer / 2);
  const n = engine.info.nEmbd;
  const one = await engineCompare(engine, 1, () => [{ kind: 'add', layer, applyTo: 'all', vector: vector(n, 1, 0.5) }]);
  const eight = await engineCompare(engine, 8, (i) => [{ kind: 'add', layer, applyTo: 'all', vector: vector(n, i + 2, 0.5) }]);
  await engine.close();
  const f = (x: number) => x.toFixed(1);
  rows.push([threads, f(alone), f(one.plain), f(one.steered), (one.steered / one.plain).toFixed(3), (one.plain / alone).toFixed(3),
    f(eight.plain), f(eight.steered), (eight.steered / eight.plain).toFixed(3)]);
}
console.log(table(
  ['threads', 'node-llama-cpp', 'engine', 'engine steered', 'steered/plain', 'engine/nlc', '8 streams', '8 streams, 8 steerings', 'steered/plain (8)'],
  rows,
));
