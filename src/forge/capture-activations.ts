/**
 * Residual rows at one layer over corpus documents, captured through the hook, with the token at each row and
 * where it came from (for labels). BOS rows are skipped: the attention sink is no part of the text.
 */
import type { Engine } from '../engine/engine.js';
import { Progress } from './progress.js';

export interface CapturedActivations {
  rows: Float32Array;
  tokens: Int32Array;
  /** per row: document index and position in it */
  documentOf: Int32Array;
  positionOf: Int32Array;
  count: number;
}

export async function captureActivations(
  engine: Engine,
  documents: readonly number[][],
  layer: number,
  maxRows: number,
  label = 'capture activations',
): Promise<CapturedActivations> {
  const n = engine.info.nEmbd;
  const rows = new Float32Array(maxRows * n);
  const tokens = new Int32Array(maxRows);
  const documentOf = new Int32Array(maxRows);
  const positionOf = new Int32Array(maxRows);
  let count = 0;
  const progress = new Progress(label, maxRows);
  // a few documents in flight at once: the engine batches them into shared decode steps
  const inFlight = 4;
  for (let d = 0; d < documents.length && count < maxRows; d += inFlight) {
    const batch = documents.slice(d, d + inFlight).map((doc) => doc.slice(0, engine.info.nCtxPerSequence));
    const captured = await Promise.all(batch.map((doc) => engine.captureResiduals(doc, [layer])));
    for (const [b, doc] of batch.entries()) {
      const x = captured[b]![0]!;
      const from = doc[0] === engine.info.bos ? 1 : 0;
      for (let p = from; p < doc.length && count < maxRows; p++, count++) {
        rows.set(x.subarray(p * n, (p + 1) * n), count * n);
        tokens[count] = doc[p]!;
        documentOf[count] = d + b;
        positionOf[count] = p;
      }
    }
    progress.update(count);
  }
  progress.update(maxRows);
  return {
    rows: rows.subarray(0, count * n),
    tokens: tokens.subarray(0, count),
    documentOf: documentOf.subarray(0, count),
    positionOf: positionOf.subarray(0, count),
    count,
  };
}
