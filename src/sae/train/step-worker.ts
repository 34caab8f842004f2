/**
 * Worker-thread entry for StepPool: runs the step phases the main thread assigns on buffers shared with it
 * (SharedArrayBuffer), answering each with `null` when done or `{ error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StepKernels, type StepRequest } from './step-kernels.js';
import type { TrainBuffers } from './train-buffers.js';

const port = parentPort;
if (!port) throw new Error('step-worker.ts is a worker_threads entry point, not a module to import');
const kernels = new StepKernels(workerData as TrainBuffers);
port.on('message', (request: StepRequest) => {
  try {
    kernels.run(request);
    port.postMessage(null);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
port.postMessage('ready');
