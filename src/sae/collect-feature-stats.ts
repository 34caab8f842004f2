/**
 * Feature statistics over a corpus: each document is run through the model in windows, the residual at the
 * SAE's layer is captured through the hook, encoded (SaeEncoder), and accumulated (FeatureStatsCollector).
 * BOS rows are left out: BOS is an attention sink whose residual looks like no other token's, so it would
 * only make a few features look common.
 */
import type { Engine } from '../engine/engine.js';
import { FeatureStatsCollector, DEFAULT_TOP_CONTEXTS } from './feature-stats-collector.js';
import type { FeatureStatsRow } from './feature-stats.js';
import type { SaeEncoder } from './sae-encoder.js';
import { corpusWindows, windowGroups } from './corpus-windows.js';

/** Tokens of context shown before and after the marked token in a top context. */
const CONTEXT_BEFORE = 10;
const CONTEXT_AFTER = 4;
/** Dense activations encoded per native call: 16M floats (64 MiB). */
const ENCODE_FLOATS = 16 * 1024 * 1024;

export type StatsEngine = Pick<Engine, 'info' | 'tokenize' | 'captureResiduals' | 'tokenText' | 'detokenize'>;

export interface CollectFeatureStatsOptions {
  engine: StatsEngine;
  encoder: SaeEncoder;
  documents: Iterable<string>;
  /** tokens per forward pass (BOS included); longer documents are cut into several windows */
  windowTokens?: number;
  /** stop after this many (non-BOS) tokens */
  maxTokens?: number;
  topContexts?: number;
  onProgress?: (progress: { tokens: number; documents: number }) => void;
}

export interface CollectedFeatureStats {
  rows: FeatureStatsRow[];
  tokens: number;
  documents: number;
}

export async function collectFeatureStats(options: CollectFeatureStatsOptions): Promise<CollectedFeatureStats> {
  const { engine, encoder } = options;
  const { sae } = encoder;
  const { bos, nParallel, nCtxPerSequence } = engine.info;
  const windowTokens = Math.min(options.windowTokens ?? 256, nCtxPerSequence);
  const maxTokens = options.maxTokens ?? Infinity;
  const collector = new FeatureStatsCollector(sae.dSae, options.topContexts ?? DEFAULT_TOP_CONTEXTS);
  /** every window kept for its contexts; a row id is windowIndex · windowTokens + position */
  const windows: number[][] = [];
  let documents = 0;

  const encodeWindows = async (group: number[][]) => {
    const residuals = await Promise.all(group.map((tokens) => engine.captureResiduals(tokens, [sae.hookLayer])));
    for (const [g, tokens] of group.entries()) {
      const windowIndex = windows.length;
      windows.push(tokens);
      const from = tokens[0] === bos ? 1 : 0;
      const rows = Math.min(tokens.length - from, maxTokens - collector.tokens);
      if (rows <= 0) continue;
      const x = residuals[g]![0]!.subarray(from * sae.dIn, (from + rows) * sae.dIn);
      const chunk = Math.max(1, Math.floor(ENCODE_FLOATS / sae.dSae));
      for (let start = 0; start < rows; start += chunk) {
        const count = Math.min(chunk, rows - start);
        const { dense } = await encoder.encode(x.subarray(start * sae.dIn, (start + count) * sae.dIn), count, { dense: true });
        const rowIds = Array.from({ length: count }, (_, r) => windowIndex * windowTokens + from + start + r);
        collector.add(dense!, count, rowIds);
      }
    }
    options.onProgress?.({ tokens: collector.tokens, documents });
  };

  for (const group of windowGroups(corpusWindows(engine, options.documents, windowTokens), nParallel)) {
    if (collector.tokens >= maxTokens) break;
    documents = group.at(-1)!.document + 1;
    await encodeWindows(group.map((w) => w.tokens));
  }

  const rows = collector.finish((rowId) => {
    const tokens = windows[Math.floor(rowId / windowTokens)]!;
    const p = rowId % windowTokens;
    const from = Math.max(tokens[0] === bos ? 1 : 0, p - CONTEXT_BEFORE);
    const token = engine.tokenText(tokens[p]!);
    const text = `${engine.detokenize(tokens.slice(from, p))}[[${token}]]${engine.detokenize(tokens.slice(p + 1, p + 1 + CONTEXT_AFTER))}`;
    return { text, token };
  });
  return { rows, tokens: collector.tokens, documents };
}

/**
 * Documents of a corpus file: JSONL with a "text" field per line (the usual dataset dump), or plain text
 * where blank lines separate documents.
 */
export function corpusDocuments(content: string, fileName: string): string[] {
  if (/\.jsonl$/i.test(fileName)) {
    return content
      .split('\n')
      .map((line, n) => {
        if (line.trim() === '') return '';
        let row: unknown;
        try {
          row = JSON.parse(line);
        } catch {
          throw new Error(`${fileName}: line ${n + 1} is not valid JSON`);
        }
        const text = (row as { text?: unknown } | null)?.text;
        if (typeof text !== 'string') throw new Error(`${fileName}: line ${n + 1} has no "text" string`);
        return text;
      })
      .filter((text) => text.trim() !== '');
  }
  return content
    .split(/\n\s*\n/)
    .map((doc) => doc.trim())
    .filter((doc) => doc !== '');
}
