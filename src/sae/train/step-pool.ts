/**
 * Runs the parallel phases of a training step (see step-kernels.ts) on worker threads plus the main thread.
 * The buffers are SharedArrayBuffer-backed, so nothing is copied per step: the main thread posts each worker
 * its share, runs its own, and waits for all. The shares are disjoint rows or latents, and the optimiser
 * touches the parameters only between phases, so there are no races; and since no result depends on which
 * thread computed it, training gives the same bits for any thread count.
 *
 * The project runs TypeScript through tsx, whose module hooks Node 20 does not pass on to worker threads, so a
 * worker started from a .ts file first registers tsx itself and then imports its entry module.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { GradientRange } from './topk-backward.js';
import { StepKernels, type StepRequest } from './step-kernels.js';
import type { TrainBuffers } from './train-buffers.js';

/** A worker that is not up by then is given up on, and training runs on fewer threads. */
const START_TIMEOUT_MS = 60_000;

export class StepPool {
  private constructor(
    private readonly local: StepKernels,
    private readonly workers: WorkerHandle[],
  ) {}

  /** Threads sharing the work: the workers plus the calling thread. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Starts `threads - 1` workers. A worker that cannot start is not fatal: the pool runs on what did start and
   * `warning` says why, because a slower run beats no run.
   */
  static async start(buffers: TrainBuffers, threads: number): Promise<{ pool: StepPool; warning?: string }> {
    const local = new StepKernels(buffers);
    if (threads <= 1) return { pool: new StepPool(local, []) };
    assertShared(buffers);
    const started = await Promise.allSettled(Array.from({ length: threads - 1 }, () => WorkerHandle.start(buffers)));
    const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const pool = new StepPool(local, workers);
    if (!failed) return { pool };
    return { pool, warning: `${threads - 1 - workers.length} training worker(s) did not start (${(failed.reason as Error).message}); using ${pool.threads} thread(s)` };
  }

  /** TopK (and AuxK) selection for batch rows [0, rows). */
  forward(rows: number, auxK: number, deadCount: number): Promise<void> {
    return this.split(rows, 4, (rowFrom, rowTo) => ({ phase: 'forward', rowFrom, rowTo, auxK, deadCount }));
  }

  /** Errors and per-row loss sums for batch rows [0, rows). */
  reconstruct(rows: number, auxK: number, balanceOn: boolean): Promise<void> {
    return this.split(rows, 4, (rowFrom, rowTo) => ({ phase: 'reconstruct', rowFrom, rowTo, auxK, balanceOn }));
  }

  /** Gradients of latents [0, dSae). */
  accumulate(dSae: number, step: Omit<GradientRange, 'latentFrom' | 'latentTo'>): Promise<void> {
    return this.split(dSae, 1, (latentFrom, latentTo) => ({ phase: 'accumulate', latentFrom, latentTo, ...step }));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** [0, count) in one contiguous share per thread (sizes a multiple of `align`), the first share local. */
  private async split(count: number, align: number, request: (from: number, to: number) => StepRequest): Promise<void> {
    const share = Math.ceil(count / this.threads / align) * align;
    const pending: Promise<void>[] = [];
    for (let w = 0; w < this.workers.length; w++) {
      const from = Math.min(count, (w + 1) * share);
      const to = Math.min(count, from + share);
      if (to > from) pending.push(this.workers[w]!.run(request(from, to)));
    }
    try {
      if (share > 0) this.local.run(request(0, Math.min(count, share)));
    } finally {
      // settle every worker before returning or throwing: none may still be writing into the buffers
      const results = await Promise.allSettled(pending);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
  }
}

/** One worker and its single outstanding request. */
class WorkerHandle {
  private pending: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: unknown) => {
      const pending = this.pending;
      this.pending = null;
      if (!pending) return;
      if (typeof message === 'object' && message !== null && 'error' in message) {
        pending.reject(new Error(`training worker failed: ${String((message as { error: unknown }).error)}`));
      } else {
        pending.resolve();
      }
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`training worker exited with code ${code}`)));
  }

  static async start(buffers: TrainBuffers): Promise<WorkerHandle> {
    const handle = new WorkerHandle(spawnWorker(buffers));
    let timer: NodeJS.Timeout | undefined;
    try {
      // the worker's first message is 'ready'
      await Promise.race([
        handle.wait(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not ready after ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        }),
      ]);
      return handle;
    } catch (err) {
      await handle.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  run(request: StepRequest): Promise<void> {
    const done = this.wait();
    if (!this.failure) this.worker.postMessage(request);
    return done;
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private wait(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.pending = { resolve, reject }));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
  }
}

function spawnWorker(buffers: TrainBuffers): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./step-worker.js', self), { workerData: buffers });
  const entry = new URL('./step-worker.ts', self).href;
  const tsxApi = tsxEsmApiUrl(self);
  const source =
    `import(${JSON.stringify(tsxApi)})` +
    `.then((tsx) => { (tsx.register ?? tsx.default.register)(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(source, { eval: true, workerData: buffers });
}

/**
 * tsx's ESM registration API as an import URL. require.resolve picks its CommonJS build, which fails to load
 * when imported, and import.meta.resolve may be missing where a test runner transforms this module, so read
 * the package's export map.
 */
function tsxEsmApiUrl(from: string): string {
  const manifestPath = createRequire(from).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: Record<string, unknown> };
  const api = manifest.exports?.['./esm/api'] as { import?: { default?: string } | string } | undefined;
  const target = typeof api?.import === 'string' ? api.import : api?.import?.default;
  if (!target) throw new Error(`cannot find tsx's ESM API in ${manifestPath}`);
  return new URL(target, pathToFileURL(manifestPath)).href;
}

/** Typed arrays over ordinary ArrayBuffers would be silently copied into the worker, which would then compute on stale weights. */
function assertShared(buffers: TrainBuffers): void {
  for (const [name, value] of Object.entries(buffers)) {
    if (ArrayBuffer.isView(value) && !(value.buffer instanceof SharedArrayBuffer)) {
      throw new Error(`training buffer ${name} must be backed by a SharedArrayBuffer to be shared with workers`);
    }
  }
}
