/**
 * llama.cpp's SentencePiece ("llama" vocab type) tokenizer, ported to TypeScript so the forge can check and
 * measure its vocabulary without loading a model. It follows llama-vocab.cpp exactly:
 *
 * - llama_tokenize splits the text at special tokens (only with parseSpecial), prefixes every raw fragment that
 *   follows a special token, or starts the text, with a space (add_space_prefix), and replaces spaces with "▁";
 * - llm_tokenizer_spm_session starts from single UTF-8 characters and repeatedly merges the adjacent pair
 *   whose concatenation is a token with the highest score (ties: the leftmost), until no pair is a token;
 * - a final piece that is not a token is split back along its merges, and what is left falls back to
 *   <0xXX> byte tokens.
 *
 * tests/forge-tokenizer.test.ts checks that it gives the same ids as llama.cpp on held-out text.
 */
import { SPM_SPACE, SpmTokenType, type SpmVocab } from '../models/spm-vocab.js';

interface Symbol {
  start: number;
  /** length in UTF-16 code units; 0 once merged into its left neighbour */
  length: number;
  prev: number;
  next: number;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  length: number;
}

/** The vocabulary's lookup tables, built once. */
export class SpmEncoder {
  private readonly ids = new Map<string, number>();
  /** tokens matched in the text with parseSpecial (control and unknown) or always (user-defined) */
  private readonly parsedSpecials: string[] = [];
  private readonly alwaysSpecials: string[] = [];

  constructor(private readonly vocab: SpmVocab) {
    vocab.tokens.forEach((token, id) => {
      if (!this.ids.has(token)) this.ids.set(token, id);
      const type = vocab.types[id];
      if (type === SpmTokenType.CONTROL || type === SpmTokenType.UNKNOWN) this.parsedSpecials.push(token);
      if (type === SpmTokenType.USER_DEFINED) this.alwaysSpecials.push(token);
    });
  }

  /** Token ids, as llama_tokenize(text, add_special = addBos, parse_special = parseSpecial) returns them. */
  encode(text: string, options: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    const output: number[] = [];
    if (options.addBos) output.push(this.vocab.specialIds.bos);
    let previousWasSpecial = true;
    const specials = options.parseSpecial ? [...this.parsedSpecials, ...this.alwaysSpecials] : this.alwaysSpecials;
    for (const fragment of this.fragments(text, specials)) {
      if (typeof fragment === 'number') {
        output.push(fragment);
        previousWasSpecial = true;
      } else {
        this.encodeFragment((previousWasSpecial ? ' ' : '') + fragment, output);
        previousWasSpecial = false;
      }
    }
    return output;
  }

  /** The text, as llama.cpp's token_to_piece renders each token ("▁" as a space, byte tokens as bytes, control tokens as nothing). */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = this.vocab.tokens[id]!;
      const type = this.vocab.types[id];
      if (type === SpmTokenType.BYTE) bytes.push(parseInt(token.slice(3, 5), 16));
      else if (type === SpmTokenType.NORMAL || type === SpmTokenType.USER_DEFINED) bytes.push(...Buffer.from(token.replaceAll(SPM_SPACE, ' '), 'utf8'));
    }
    return Buffer.from(bytes).toString('utf8');
  }

  /** Splits at special tokens (when parsing them): raw text as strings, special tokens as ids. */
  private *fragments(text: string, specials: readonly string[]): Generator<string | number> {
    let rest = text;
    while (rest.length) {
      let at = -1;
      let found = '';
      for (const special of specials) {
        const index = rest.indexOf(special);
        // the earliest match, and at one position the longest
        if (index !== -1 && (at === -1 || index < at || (index === at && special.length > found.length))) [at, found] = [index, special];
      }
      if (at === -1) {
        yield rest;
        return;
      }
      if (at > 0) yield rest.slice(0, at);
      yield this.ids.get(found)!;
      rest = rest.slice(at + found.length);
    }
  }

  /** llm_tokenizer_spm_session::tokenize on one raw fragment. */
  private encodeFragment(raw: string, output: number[]): void {
    const text = raw.replaceAll(' ', SPM_SPACE);
    const symbols: Symbol[] = [];
    for (let offset = 0; offset < text.length; ) {
      const length = text.codePointAt(offset)! > 0xffff ? 2 : 1;
      symbols.push({ start: offset, length, prev: symbols.length - 1, next: offset + length < text.length ? symbols.length + 1 : -1 });
      offset += length;
    }
    const queue = new BigramQueue();
    const reverseMerges = new Map<string, [number, number]>();
    const tryAddBigram = (left: number, right: number): void => {
      if (left === -1 || right === -1) return;
      const piece = text.substr(symbols[left]!.start, symbols[left]!.length + symbols[right]!.length);
      const id = this.ids.get(piece);
      if (id === undefined) return;
      queue.push({ left, right, score: this.vocab.scores[id]!, length: piece.length });
      reverseMerges.set(piece, [left, right]);
    };
    for (let i = 1; i < symbols.length; i++) tryAddBigram(i - 1, i);
    for (let bigram = queue.pop(); bigram; bigram = queue.pop()) {
      const left = symbols[bigram.left]!;
      const right = symbols[bigram.right]!;
      if (left.length === 0 || right.length === 0 || left.length + right.length !== bigram.length) continue;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next]!.prev = bigram.left;
      tryAddBigram(left.prev, bigram.left);
      tryAddBigram(bigram.left, left.next);
    }
    const resegment = (symbol: Symbol): void => {
      const piece = text.substr(symbol.start, symbol.length);
      const id = this.ids.get(piece);
      if (id !== undefined) {
        output.push(id);
        return;
      }
      const merge = reverseMerges.get(piece);
      if (!merge) {
        for (const byte of Buffer.from(piece, 'utf8')) output.push(this.byteToken(byte));
        return;
      }
      resegment(symbols[merge[0]]!);
      resegment(symbols[merge[1]]!);
    };
    for (let i = symbols.length ? 0 : -1; i !== -1; i = symbols[i]!.next) resegment(symbols[i]!);
  }

  private byteToken(byte: number): number {
    const id = this.ids.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    if (id === undefined) throw new Error(`spm: the vocabulary has no byte token for 0x${byte.toString(16)}`);
    return id;
  }
}

/** A binary max-heap in llm_bigram_spm's order: higher score first, then the leftmost. */
class BigramQueue {
  private readonly heap: Bigram[] = [];

  private static before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(item: Bigram): void {
    const heap = this.heap;
    heap.push(item);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!BigramQueue.before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): Bigram | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length && last) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && BigramQueue.before(heap[l]!, heap[best]!)) best = l;
        if (r < heap.length && BigramQueue.before(heap[r]!, heap[best]!)) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best]!, heap[i]!];
        i = best;
      }
    }
    return top;
  }
}
