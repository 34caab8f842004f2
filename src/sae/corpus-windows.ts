/**
 * A corpus cut into model windows: each document is tokenized (BOS as the model wants it) and cut into windows
 * of at most `windowTokens`, each starting with BOS again, so every window is a forward pass of its own. Both
 * the feature statistics and the activation capture read corpora this way, so their rows line up.
 */
import type { Engine } from '../engine/engine.js';

export type WindowEngine = Pick<Engine, 'info' | 'tokenize'>;

export interface CorpusWindow {
  tokens: number[];
  /** index of the document the window comes from (documents with no tokens are skipped, not counted) */
  document: number;
  /** rows before this one are not text: 1 when the window starts with BOS, else 0 */
  firstTextRow: number;
}

export function* corpusWindows(engine: WindowEngine, documents: Iterable<string>, windowTokens: number): Generator<CorpusWindow> {
  if (!Number.isSafeInteger(windowTokens) || windowTokens < 2) throw new RangeError(`windowTokens must be an integer >= 2 (got ${windowTokens})`);
  const { bos, addBos } = engine.info;
  let document = 0;
  for (const text of documents) {
    const tokens = engine.tokenize(text, { addSpecial: true, parseSpecial: false });
    const startsWithBos = tokens[0] === bos;
    const body = startsWithBos ? tokens.slice(1) : tokens;
    if (body.length === 0) continue;
    const prefix = startsWithBos || (addBos && bos >= 0) ? [bos] : [];
    for (let at = 0; at < body.length; at += windowTokens - prefix.length) {
      yield { tokens: [...prefix, ...body.slice(at, at + windowTokens - prefix.length)], document, firstTextRow: prefix.length };
    }
    document++;
  }
}

/** Windows `size` at a time (the last group may be shorter): the engine batches a group into shared decode steps. */
export function* windowGroups(windows: Iterable<CorpusWindow>, size: number): Generator<CorpusWindow[]> {
  let group: CorpusWindow[] = [];
  for (const window of windows) {
    group.push(window);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length > 0) yield group;
}
