/**
 * SAE readout throughput: tokens/s of SaeEncoder (native, ggml's CPU matmul) for a real-size Llama SAE
 * (d_in 4096 × 65,536 latents, F32: 1 GiB of encoder weights) and for the demo SAE (the forge's 128 × 1024),
 * at several rows per call: 1 row is the per-token case during generation, larger batches are prompt and
 * corpus reads. The plain-JS reference (Sae.encode) is timed once per SAE for comparison.
 *
 * Usage: npm run bench:sae -- [--threads 2] [--runs 3] [--skip-large]
 * Random weights (the cost does not depend on them); one thing at a time: ggml threads busy-wait.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Sae } from '../src/sae/sae.js';
import { SaeEncoder } from '../src/sae/sae-encoder.js';
import { describeMachine, median, table } from './machine.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: String(Math.max(1, os.availableParallelism())) },
    runs: { type: 'string', default: '3' },
    'skip-large': { type: 'boolean', default: false },
  },
});
const THREADS = Number(args.threads);
const RUNS = Number(args.runs);

function randomFill(a: Float32Array, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  }
  return a;
}

/** Random SAE weights; the decoder shares the encoder's array (the bench never decodes), so the large one costs 1 GiB, not 2. */
function randomWeights(dIn: number, dSae: number) {
  const wEnc = randomFill(new Float32Array(dSae * dIn), 1, 2 / Math.sqrt(dIn));
  return {
    dIn, dSae, wEnc, wDec: wEnc, hookLayer: 0, applyBDecToInput: false,
    bEnc: randomFill(new Float32Array(dSae), 2, 0.1), bDec: new Float32Array(dIn),
    threshold: randomFill(new Float32Array(dSae), 3, 0.2).map(Math.abs),
  };
}

async function timeMs(work: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const rows: (string | number)[][] = [];
async function bench(name: string, sae: Sae, batches: number[], referenceRows: number): Promise<void> {
  const encoder = await SaeEncoder.create(sae, { threads: THREADS });
  const input = randomFill(new Float32Array(Math.max(...batches, referenceRows) * sae.dIn), 4, 1);
  await encoder.encode(input.subarray(0, sae.dIn), 1, { topN: 8 }); // warm-up: page the weights in
  for (const batch of batches) {
    const x = input.subarray(0, batch * sae.dIn);
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) times.push(await timeMs(() => encoder.encode(x, batch, { topN: 8 })));
    const ms = median(times);
    rows.push([name, sae.architecture, `native, ≤ ${THREADS} threads`, batch, ms.toFixed(1), Math.round((batch * 1000) / ms)]);
    console.error(rows.at(-1)!.join('  '));
  }
  const x = input.subarray(0, referenceRows * sae.dIn);
  const ms = await timeMs(() => sae.encode(x, referenceRows));
  rows.push([name, sae.architecture, 'plain JS (Sae.encode)', referenceRows, ms.toFixed(1), ((referenceRows * 1000) / ms).toFixed(1)]);
  console.error(rows.at(-1)!.join('  '));
}

await bench('demo 128 × 1,024', new Sae({ ...randomWeights(128, 1024), architecture: 'topk', k: 24 }), [1, 64, 512], 64);
if (!args['skip-large']) {
  const large = randomWeights(4096, 65_536);
  await bench('Llama 4,096 × 65,536', new Sae({ ...large, architecture: 'topk', k: 64 }), [1, 16, 128, 512], 1);
  // the same weights as a JumpReLU: only the per-row nonlinearity differs
  await bench('Llama 4,096 × 65,536', new Sae({ ...large, architecture: 'jumprelu' }), [1, 128], 1);
}

console.log(`\nSAE encode + top-8 per token, ${describeMachine()}, median of ${RUNS}\n`);
console.log(table(['SAE (d_in × d_sae)', 'architecture', 'encoder', 'tokens per call', 'ms per call', 'tokens/s'], rows));
