/**
 * Prometheus metrics, one registry per app so tests can build several apps in one process. Names follow
 * Prometheus conventions: `steerd_` prefix, snake_case, base units (seconds), `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineStats } from './engine/types.js';

/** The slice of the engine the metrics watch: its decode steps and its queue. */
export interface ObservableEngine {
  on(event: 'step', listener: (e: { batchTokens: number; sequences: number }) => void): unknown;
  off(event: 'step', listener: (e: { batchTokens: number; sequences: number }) => void): unknown;
  stats(): EngineStats;
}

/** Latency buckets from a fast local token (ms) up to a long queue wait on a busy CPU (minutes). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

export class Metrics {
  readonly registry = new Registry();

  readonly promptTokens = new Counter({
    name: 'steerd_prompt_tokens_total',
    help: 'Prompt tokens processed.',
    registers: [this.registry],
  });

  readonly generatedTokens = new Counter({
    name: 'steerd_generated_tokens_total',
    help: 'Tokens generated.',
    registers: [this.registry],
  });

  readonly requestsInFlight = new Gauge({
    name: 'steerd_requests_in_flight',
    help: 'Completion requests being handled (queued or generating).',
    registers: [this.registry],
  });

  /** Read from the engine at scrape time, so it can never drift from the real queue. */
  readonly requestsQueued: Gauge;

  readonly requestDuration = new Histogram({
    name: 'steerd_request_duration_seconds',
    help: 'HTTP request duration, until the last byte (streams included).',
    labelNames: ['endpoint', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly timeToFirstToken = new Histogram({
    name: 'steerd_time_to_first_token_seconds',
    help: 'From the generation request (queue wait included) to its first token.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly interTokenLatency = new Histogram({
    name: 'steerd_inter_token_latency_seconds',
    help: 'Time between consecutive tokens of one generation.',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly decodeBatchTokens = new Histogram({
    name: 'steerd_decode_batch_tokens',
    help: 'Tokens per decode step (all sequences batched together).',
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly steeredRequests = new Counter({
    name: 'steerd_steered_requests_total',
    help: 'Requests that carried steering, by intervention kind (add, clamp).',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });

  readonly rejectedRequests = new Counter({
    name: 'steerd_rejected_requests_total',
    help: 'Requests answered with a 4xx, by reason (queue_full, context_length, invalid_steer, ...).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private queuedSource: (() => number) | null = null;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const metrics = this;
    this.requestsQueued = new Gauge({
      name: 'steerd_requests_queued',
      help: 'Generation requests waiting for a free sequence.',
      registers: [this.registry],
      collect() {
        this.set(metrics.queuedSource?.() ?? 0);
      },
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'steerd_' });
  }

  /** Starts watching an engine's decode steps and queue; returns the function that stops it. */
  observeEngine(engine: ObservableEngine): () => void {
    const onStep = (e: { batchTokens: number }) => this.decodeBatchTokens.observe(e.batchTokens);
    engine.on('step', onStep);
    this.queuedSource = () => engine.stats().queuedRequests;
    return () => {
      engine.off('step', onStep);
      this.queuedSource = null;
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
