/**
 * Activations for `steerd sae train` from a user's own model: a corpus runs through the model in windows
 * (corpusWindows), the residual stream at one layer is captured through the hook, and every text token's row
 * (BOS rows left out, as the SAE never sees them at serving time either) is appended to a safetensors file as
 * it comes, so a capture larger than memory streams to disk.
 */
import type { Engine } from '../engine/engine.js';
import { ActivationsWriter } from './train/activations-file.js';
import { corpusWindows, windowGroups, type CorpusWindow } from './corpus-windows.js';

export type CaptureEngine = Pick<Engine, 'info' | 'tokenize' | 'captureResiduals'>;

export interface CaptureToFileOptions {
  engine: CaptureEngine;
  documents: Iterable<string>;
  /** the block whose output is captured (blocks.L.hook_resid_post) */
  layer: number;
  out: string;
  /** tokens per forward pass, BOS included (default 256, at most the context per sequence) */
  windowTokens?: number;
  /** stop after this many rows */
  maxRows?: number;
  /** written into the file's metadata beside hook_layer and hook_name */
  metadata?: Readonly<Record<string, string>>;
  onProgress?: (progress: { rows: number; documents: number }) => void;
  signal?: AbortSignal;
}

export async function captureActivationsToFile(options: CaptureToFileOptions): Promise<{ rows: number; documents: number }> {
  const { engine, layer } = options;
  const { nLayer, nEmbd, nParallel, nCtxPerSequence } = engine.info;
  if (!Number.isSafeInteger(layer) || layer < 0 || layer >= nLayer) throw new RangeError(`layer must be an integer in [0, ${nLayer - 1}] (got ${layer})`);
  const windowTokens = Math.min(options.windowTokens ?? 256, nCtxPerSequence);
  const maxRows = options.maxRows ?? Infinity;
  const writer = await ActivationsWriter.create(options.out, nEmbd, {
    ...options.metadata,
    hook_layer: String(layer),
    hook_name: `blocks.${layer}.hook_resid_post`,
  });
  let rows = 0;
  let documents = 0;
  const captureGroup = async (group: CorpusWindow[]) => {
    const captured = await Promise.all(group.map((w) => engine.captureResiduals(w.tokens, [layer], options.signal)));
    for (const [g, w] of group.entries()) {
      const take = Math.min(w.tokens.length - w.firstTextRow, maxRows - rows);
      if (take <= 0) break;
      await writer.append(captured[g]![0]!.subarray(w.firstTextRow * nEmbd, (w.firstTextRow + take) * nEmbd));
      rows += take;
    }
    options.onProgress?.({ rows, documents });
  };
  try {
    for (const group of windowGroups(corpusWindows(engine, options.documents, windowTokens), nParallel)) {
      if (rows >= maxRows) break;
      documents = group.at(-1)!.document + 1;
      await captureGroup(group);
    }
    if (rows === 0) throw new Error('the corpus gave no tokens to capture');
    await writer.close();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return { rows, documents };
}
