/**
 * Clients that hang up mid-stream, over real sockets against the real engine: 50 long streaming requests,
 * several at a time, each dropped before its first byte or after its first 1–3 SSE events. Afterwards every
 * request must be accounted for (in-flight gauge back to 0), every sequence freed (KV included), the dropped
 * generations stopped early rather than run to max_tokens, and the server must still answer.
 */
import type { FastifyInstance } from 'fastify';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { buildTestApp, listenOnFreePort, loadTestEngine, waitFor } from './helpers/test-server.js';

const REQUESTS = 50;
const CLIENTS_AT_ONCE = 6;
const MAX_TOKENS = 200;

let engine: Engine;
let app: FastifyInstance;
let baseUrl: string;
/**
 * The hanging-up clients' own connection pool. A request aborted before it was written leaves its fresh
 * socket open without a byte sent, and Node's server.close() waits for such a socket until its headers
 * timeout (about a minute): destroying the pool afterwards is the clients going away for good.
 */
let clients: Agent;

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 4, queue: 64 });
  ({ app } = await buildTestApp(engine));
  baseUrl = await listenOnFreePort(app);
  clients = new Agent();
});

afterAll(async () => {
  await clients?.destroy();
  await app?.close();
  await engine?.close();
});

/**
 * How a client hangs up: `before-headers` 0–2 ms after sending, some before the request is even written and
 * the rest while the server resolves a phrase no request used before (a forward pass queued behind the
 * generations, so no response byte can have gone out yet); `after-events` once that many SSE events arrived.
 */
type Cut = { kind: 'before-headers'; delayMs: number } | { kind: 'after-events'; events: 1 | 2 | 3 };

function cutFor(i: number): Cut {
  if (i % 4 === 0) return { kind: 'before-headers', delayMs: i % 3 };
  return { kind: 'after-events', events: ((i % 3) + 1) as 1 | 2 | 3 };
}

interface Outcome {
  cut: Cut['kind'];
  /** whether the status line and headers had arrived when the client hung up */
  gotHeaders: boolean;
  eventsSeen: number;
}

async function streamAndHangUp(i: number): Promise<Outcome> {
  const cut = cutFor(i);
  const client = new AbortController();
  const body = {
    model: engine.info.modelName,
    messages: [{ role: 'user', content: `Tell me story number ${i}.` }],
    max_tokens: MAX_TOKENS,
    temperature: 0,
    stream: true,
    // no early end of sequence: every generation would run its full max_tokens unless the hang-up stops it
    logit_bias: { [engine.info.eos]: -100 },
    ...(cut.kind === 'before-headers' ? { steer: { phrase: `waves and tides ${i}`, strength: 1 } } : {}),
  };
  let gotHeaders = false;
  let eventsSeen = 0;
  if (cut.kind === 'before-headers') setTimeout(() => client.abort(), cut.delayMs);
  try {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: client.signal,
      dispatcher: clients,
    });
    gotHeaders = true;
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (cut.kind === 'after-events') {
      const { value, done } = await reader.read();
      if (done) throw new Error(`request ${i}: the stream ended before the client hung up`);
      text += decoder.decode(value, { stream: true });
      eventsSeen = text.split('\n\n').length - 1;
      if (eventsSeen >= cut.events) break;
    }
    client.abort();
    await reader.cancel().catch(() => undefined);
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  }
  return { cut: cut.kind, gotHeaders, eventsSeen };
}

/** Runs `count` jobs with at most `width` in flight at once. */
async function runPool<T>(count: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

async function metricsText(): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`metric ${name} not found`);
  return Number(line.slice(name.length + 1));
}

describe('clients that hang up mid-stream', () => {
  it('leave no request in flight, no sequence or KV behind, and a server that still answers', async () => {
    const outcomes = await runPool(REQUESTS, CLIENTS_AT_ONCE, streamAndHangUp);

    // the mix really happened: some dropped before any byte, some after 1, 2 and 3 events
    expect(outcomes.filter((o) => o.cut === 'before-headers' && !o.gotHeaders).length).toBeGreaterThan(0);
    for (const events of [1, 2, 3]) {
      expect(outcomes.filter((o) => o.cut === 'after-events' && o.eventsSeen >= events).length).toBeGreaterThan(0);
    }

    await waitFor('steerd_requests_in_flight to reach 0', async () => metricValue(await metricsText(), 'steerd_requests_in_flight') === 0);
    await waitFor('the engine to free every sequence', () => {
      const stats = engine.stats();
      return stats.activeSequences === 0 && stats.queuedRequests === 0 && stats.sequencesHoldingKv === 0;
    });
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });

    // the hang-ups stopped their generations: had they run on, 50 × 200 tokens would have been generated
    const metrics = await metricsText();
    expect(metricValue(metrics, 'steerd_generated_tokens_total')).toBeLessThan((REQUESTS * MAX_TOKENS) / 10);
    // none of them finished normally from the server's point of view
    expect(metrics).not.toMatch(/steerd_request_duration_seconds_count\{endpoint="\/v1\/chat\/completions",status="200"\}/);

    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: engine.info.modelName,
        messages: [{ role: 'user', content: 'Still there?' }],
        max_tokens: 8,
        temperature: 0,
        steer: 'calm',
      }),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
    expect(answer.usage.completion_tokens).toBe(8);
    expect(engine.stats()).toEqual({ activeSequences: 0, queuedRequests: 0, sequencesHoldingKv: 0 });
  });
});
