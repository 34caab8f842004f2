/**
 * HTTP load on POST /v1/chat/completions: requests/s, generated tokens/s, latency and time to first token at
 * 1, 4 and 8 concurrent clients, unsteered and steered.
 * Usage: npm run bench:http -- [--model PATH] [--duration 15] [--connections 1,4,8] [--parallel 8]
 *        [--threads N (default: physical cores - 1)]
 *        [--max-tokens 32] [--ttft-samples 16] [--gpu auto|cuda|vulkan|metal|cpu]
 *
 * The server runs in this process (built as server.ts builds it) and autocannon drives it over loopback:
 * non-streaming greedy requests, back to back on each connection, for a fixed duration per cell. Generated
 * tokens are the completion_tokens of the responses autocannon counted. Time to first token is measured
 * separately, after each autocannon run, with the same number of concurrent streaming clients (undici), from
 * sending the request to the first SSE event (the role chunk, sent with the first token).
 */
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { buildApp } from '../src/app.js';
import { GPU_CHOICES, physicalCoreCount } from '../src/config.js';
import { Engine } from '../src/engine/engine.js';
import { Metrics } from '../src/metrics.js';
import { ensureDefaultModel } from '../src/models/default-model.js';
import { createServices } from '../src/services/create-services.js';
import { describeMachine, median, table } from './machine.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '1,4,8' },
    parallel: { type: 'string', default: '8' },
    // one core left to the event loop that runs both the server and autocannon: llama.cpp's threads
    // busy-wait, and with every core spinning the HTTP side (and so every figure) stalls
    threads: { type: 'string', default: String(Math.max(1, physicalCoreCount() - 1)) },
    'max-tokens': { type: 'string', default: '32' },
    'ttft-samples': { type: 'string', default: '16' },
    gpu: { type: 'string', default: 'auto' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = args.connections.split(',').map(Number);
const PARALLEL = Number(args.parallel);
const THREADS = Number(args.threads);
const MAX_TOKENS = Number(args['max-tokens']);
const TTFT_SAMPLES = Number(args['ttft-samples']);
const GPU = args.gpu as (typeof GPU_CHOICES)[number];
if (!GPU_CHOICES.includes(GPU)) throw new Error(`--gpu must be one of ${GPU_CHOICES.join(', ')}`);
const STEER = { phrase: 'the ocean', strength: 1 };
const MESSAGES = [{ role: 'user', content: 'Tell me a short story about a lighthouse keeper.' }];

/** The slice of autocannon's API used here (the package ships no types). */
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: Array<{
    method: 'POST';
    path: string;
    headers: Record<string, string>;
    body: string;
    onResponse: (status: number, body: string) => void;
  }>;
}
interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** seconds */
  duration: number;
  /** milliseconds */
  latency: { p50: number; p99: number };
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

interface Cell {
  connections: number;
  steered: boolean;
  requestsPerSecond: number;
  tokensPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  failures: number;
}

function requestBody(model: string, steered: boolean, stream: boolean): string {
  return JSON.stringify({
    model,
    messages: MESSAGES,
    max_tokens: MAX_TOKENS,
    temperature: 0,
    ...(stream ? { stream: true } : {}),
    ...(steered ? { steer: STEER } : {}),
  });
}

/** Nearest-rank percentile: with few samples, p99 is simply the slowest one. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function loadRun(baseUrl: string, model: string, connections: number, steered: boolean) {
  let generatedTokens = 0;
  let badBodies = 0;
  const result = await autocannon({
    url: baseUrl,
    connections,
    duration: DURATION_S,
    timeout: 120,
    requests: [
      {
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
        body: requestBody(model, steered, false),
        onResponse: (status, body) => {
          if (status !== 200) return;
          const usage = (JSON.parse(body) as { usage?: { completion_tokens?: number } }).usage;
          if (typeof usage?.completion_tokens === 'number') generatedTokens += usage.completion_tokens;
          else badBodies++;
        },
      },
    ],
  });
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    tokensPerSecond: generatedTokens / result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts + badBodies,
  };
}

/** Time to the first SSE event of one streamed request, read to its end so the load stays `connections` wide. */
async function timeToFirstEvent(dispatcher: Agent, baseUrl: string, model: string, steered: boolean): Promise<number> {
  const started = performance.now();
  const response = await request(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json' },
    body: requestBody(model, steered, true),
  });
  if (response.statusCode !== 200) throw new Error(`streaming request failed: ${response.statusCode} ${await response.body.text()}`);
  let firstAt = 0;
  let received = '';
  for await (const chunk of response.body) {
    if (!firstAt) {
      received += String(chunk);
      if (received.includes('data: ')) firstAt = performance.now();
    }
  }
  if (!firstAt) throw new Error('the stream sent no event');
  return firstAt - started;
}

async function ttftRun(baseUrl: string, model: string, connections: number, steered: boolean) {
  const dispatcher = new Agent({ connections });
  const samples: number[] = [];
  try {
    // rounds of `connections` simultaneous streams, until there are enough samples
    while (samples.length < TTFT_SAMPLES) {
      const round = Array.from({ length: connections }, () => timeToFirstEvent(dispatcher, baseUrl, model, steered));
      samples.push(...(await Promise.all(round)));
    }
  } finally {
    await dispatcher.close();
  }
  return { ttftP50Ms: percentile(samples, 50), ttftP99Ms: percentile(samples, 99) };
}

async function main(): Promise<void> {
  // other work on the machine shows in every figure: say how busy it was
  const loadBefore = loadavg()[0]!;
  const modelPath = args.model ?? (await ensureDefaultModel());
  const engine = await Engine.load({ modelPath, gpu: GPU, parallel: PARALLEL, threads: THREADS, queue: 256 });
  const services = await createServices({ engine, metrics: new Metrics() });
  const app = await buildApp({ config: { apiKeys: [] }, engine, services });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const model = engine.info.modelName;

  const cells: Cell[] = [];
  try {
    // warm-up: the first steered request computes the phrase's direction (cached afterwards), and the first
    // decode of each batch shape allocates buffers
    const warm = new Agent();
    for (const steered of [false, true]) await timeToFirstEvent(warm, baseUrl, model, steered);
    await warm.close();

    for (const connections of CONNECTIONS) {
      for (const steered of [false, true]) {
        process.stderr.write(`${connections} connection(s), ${steered ? 'steered' : 'unsteered'}: ${DURATION_S} s of load, then TTFT... `);
        const load = await loadRun(baseUrl, model, connections, steered);
        const ttft = await ttftRun(baseUrl, model, connections, steered);
        cells.push({ connections, steered, ...load, ...ttft });
        process.stderr.write(`${load.requestsPerSecond.toFixed(1)} req/s\n`);
      }
    }
  } finally {
    await app.close();
    await engine.close();
  }

  const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
  console.log(`\nmachine: ${describeMachine()} · 1-minute load average before the run ${loadBefore.toFixed(2)}`);
  console.log(
    `model: ${model} (${engine.info.nLayer} layers, n_embd ${engine.info.nEmbd}) · --parallel ${PARALLEL} · threads ${THREADS} · ` +
      `gpu ${GPU} · max_tokens ${MAX_TOKENS} · temperature 0 · ${DURATION_S} s per cell · steered = ${JSON.stringify(STEER)}`,
  );
  console.log(
    `latency: autocannon, non-streaming, whole response · TTFT: ${TTFT_SAMPLES}+ separate streaming requests per cell ` +
      '(undici, same concurrency), to the first SSE event · client and server share one process\n',
  );
  console.log(
    table(
      ['connections', 'steered', 'requests/s', 'generated tokens/s', 'latency p50 ms', 'latency p99 ms', 'TTFT p50 ms', 'TTFT p99 ms', 'failed'],
      cells.map((c) => [
        c.connections,
        c.steered ? 'yes' : 'no',
        fixed(c.requestsPerSecond),
        fixed(c.tokensPerSecond, 0),
        fixed(c.latencyP50Ms, 0),
        fixed(c.latencyP99Ms, 0),
        fixed(c.ttftP50Ms),
        fixed(c.ttftP99Ms),
        c.failures,
      ]),
    ),
  );
  const ratios = CONNECTIONS.map((connections) => {
    const tokensPerSecond = (steered: boolean) => cells.find((c) => c.connections === connections && c.steered === steered)!.tokensPerSecond;
    return tokensPerSecond(true) / tokensPerSecond(false);
  });
  console.log(
    `\nsteered ÷ unsteered generated tokens/s: ${CONNECTIONS.map((c, i) => `${c} conn ${fixed(ratios[i]!, 2)}`).join(', ')} ` +
      `(median ${fixed(median(ratios), 2)})`,
  );
}

await main();
