/** Drives the native addon directly, for tests that compare the hook against llama.cpp references. */
import { loadAddon, type NativeContext, type NativeIntervention, type NativeModel } from '../../src/native/addon.js';

export async function openNative(modelPath: string) {
  const { addon } = await loadAddon('cpu');
  const model = await addon.loadModel(modelPath, { gpuLayers: 0, useMmap: true });
  const contexts: NativeContext[] = [];
  return {
    addon,
    model,
    context(options: { hook?: boolean; nBatch?: number; nSeqMax?: number; nCtx?: number } = {}): NativeContext {
      const ctx = addon.createContext(model, {
        nCtx: options.nCtx ?? 1024,
        nBatch: options.nBatch ?? 256,
        nSeqMax: options.nSeqMax ?? 4,
        threads: 1,
        hook: options.hook ?? true,
      });
      contexts.push(ctx);
      return ctx;
    },
    dispose() {
      contexts.forEach((c) => c.dispose());
      model.dispose();
    },
  };
}

export interface Row {
  seq: number;
  token: number;
  pos: number;
  generated?: boolean;
  logits?: boolean;
}

/** One decode of arbitrary rows; returns the logits of the rows marked `logits`. */
export async function decodeRows(
  ctx: NativeContext,
  rows: Row[],
  captures: { layer: number; rows: number[] }[] = [],
): Promise<{ logits: Float32Array[]; captures: Float32Array[] }> {
  const logitRows = rows.flatMap((r, i) => (r.logits ? [i] : []));
  const result = await ctx.decode({
    tokens: Int32Array.from(rows.map((r) => r.token)),
    positions: Int32Array.from(rows.map((r) => r.pos)),
    seqIds: Int32Array.from(rows.map((r) => r.seq)),
    generated: Uint8Array.from(rows.map((r) => (r.generated ? 1 : 0))),
    sampleRows: new Int32Array(0),
    samplers: [],
    topLogprobs: new Int32Array(0),
    logitRows: Int32Array.from(logitRows),
    captures: captures.map((c) => ({ layer: c.layer, rows: Int32Array.from(c.rows) })),
  });
  return { logits: result.logits, captures: result.captures };
}

/** A prompt as contiguous rows of one sequence, logits for every row. */
export function promptRows(seq: number, tokens: readonly number[]): Row[] {
  return tokens.map((token, pos) => ({ seq, token, pos, logits: true }));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function seededVector(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return v;
}

export function addAt(layer: number, vector: Float32Array, applyTo: 0 | 1 | 2 = 0): NativeIntervention {
  return { kind: 'add', layer, applyTo, vector };
}

export type { NativeModel };
