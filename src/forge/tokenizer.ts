/**
 * The forge's tokenizer: a SentencePiece-style ("llama" vocab type) vocabulary learned from the storyworld
 * corpus, the way SentencePiece's BPE trainer builds Llama's.
 *
 * llama.cpp's SPM tokenizer (see spm-encoder.ts) starts from single characters and keeps merging the adjacent
 * pair whose concatenation is a token with the highest score. A word therefore becomes one token only if a
 * chain of merges reaches it through tokens. BPE training produces exactly such chains: every learned token is
 * the concatenation of two earlier tokens, and scoring tokens by merge order (the first merge scores highest)
 * makes the SPM tokenizer replay the merges in the order they were learned. Unlike a prefix-closed vocabulary
 * (spm-vocab.ts), the intermediate pieces are shared between words ("▁dr" for dragon and drew, "ed" for every
 * past tense), so ~2600 learned pieces turn 99.9% of the corpus's words into single tokens. The storyworld
 * has ~1500 distinct words, so BPE runs out of pairs (each must occur twice) at about 2950 tokens: a larger
 * vocabulary is padded with UNUSED tokens, which the tokenizer never produces.
 *
 * The text is first cut into units the way llama.cpp sees it: spaces become "▁" and start the next unit, and
 * letters, digits, punctuation and newlines never share a unit, so pieces never straddle a word boundary.
 * After training, every learned token is checked with the ported SPM tokenizer; a token its own text does
 * not reach (possible when two merge chains compete) is replaced by the next merge.
 *
 * Layout: <unk> <s> </s> <|im_start|> <|im_end|> (ids 0-4), 256 byte tokens <0x00>..<0xFF>, the base
 * characters ("▁", "\n", printable ASCII, anything else the corpus uses), then the merges in order.
 */
import { SPM_FIRST_BYTE_TOKEN_ID, SPM_SPACE, SPM_SPECIAL_IDS, SpmTokenType, type SpmVocab } from '../models/spm-vocab.js';
import { SpmEncoder } from './spm-encoder.js';

export const FORGE_VOCAB_DEFAULT_SIZE = 3000;

const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'] as const;
const SPECIAL_TYPES = [SpmTokenType.UNKNOWN, SpmTokenType.CONTROL, SpmTokenType.CONTROL, SpmTokenType.CONTROL, SpmTokenType.CONTROL];
const SPECIAL_PATTERN = new RegExp(SPECIAL_TOKENS.map((t) => t.replace(/[|]/g, '\\|')).join('|'), 'g');

/** "▁" first (a lone space must never byte-fall-back), then the newline, then printable ASCII */
const BASE_CHARACTERS = [SPM_SPACE, '\n', ...Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i))];

/** A unit: an optional "▁" and then a run of letters, or digit, or a run of newlines or of other symbols. */
const UNIT = /▁?[A-Za-z]+|'[A-Za-z]+|▁?[0-9]|▁?\n+|▁?[^A-Za-z0-9▁\n]+|▁/gu;

/**
 * The units llama.cpp's tokenizer would see in a document tokenized with parse_special: every raw fragment
 * (the text, or the text after a special token) gets a leading space, then spaces become "▁".
 */
export function corpusUnits(document: string): string[] {
  const units: string[] = [];
  for (const fragment of document.split(SPECIAL_PATTERN)) {
    if (!fragment) continue;
    units.push(...((' ' + fragment).replaceAll(' ', SPM_SPACE).match(UNIT) ?? []));
  }
  return units;
}

function countUnits(documents: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const document of documents) for (const unit of corpusUnits(document)) counts.set(unit, (counts.get(unit) ?? 0) + 1);
  return counts;
}

const PAIR_SEPARATOR = '\u0000';

/**
 * Byte-pair merges over the unit counts, most frequent pair first (ties: the pair that sorts first), for as
 * long as the caller asks and some pair occurs at least twice. Yields each new token; a merge whose result is
 * already in `known` is applied without yielding.
 */
function* bytePairMerges(unitCounts: ReadonlyMap<string, number>, known: Set<string>): Generator<string> {
  const words = [...unitCounts].map(([unit, count]) => ({ symbols: Array.from(unit), count }));
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const countPairs = (index: number, sign: 1 | -1): void => {
    const { symbols, count } = words[index]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i] + PAIR_SEPARATOR + symbols[i + 1];
      const total = (pairCounts.get(key) ?? 0) + sign * count;
      if (total === 0) pairCounts.delete(key);
      else pairCounts.set(key, total);
      if (sign === 1) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(index);
      }
    }
  };
  words.forEach((_, index) => countPairs(index, 1));
  for (;;) {
    let best: string | undefined;
    let bestCount = 1; // a pair must occur at least twice
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) [best, bestCount] = [key, count];
    }
    if (best === undefined) return;
    const [left, right] = best.split(PAIR_SEPARATOR) as [string, string];
    for (const index of pairWords.get(best)!) {
      const word = words[index]!;
      countPairs(index, -1);
      const merged: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === left && word.symbols[i + 1] === right) merged.push(left + right), i++;
        else merged.push(word.symbols[i]!);
      }
      word.symbols = merged;
      countPairs(index, 1);
    }
    pairWords.delete(best);
    if (!known.has(left + right)) yield left + right;
  }
}

export interface ForgeVocabStats {
  /** tokens learned by merging (after the base characters) */
  merges: number;
  /** UNUSED padding tokens, when the corpus ran out of pairs before the vocabulary was full */
  padding: number;
  /** learned tokens dropped because the SPM tokenizer could not reach them from their own text */
  unreachable: number;
}

/**
 * Builds a vocabulary of exactly `size` tokens from the corpus (documents, or one text), deterministically.
 * Returns the SpmVocab shape the GGUF writer stores, plus how it was filled.
 */
export function buildForgeVocab(corpus: string | readonly string[], size = FORGE_VOCAB_DEFAULT_SIZE): SpmVocab & { stats: ForgeVocabStats } {
  const documents = typeof corpus === 'string' ? [corpus] : corpus;
  const unitCounts = countUnits(documents);
  const characterCounts = new Map<string, number>();
  for (const [unit, count] of unitCounts) for (const c of unit) characterCounts.set(c, (characterCounts.get(c) ?? 0) + count);
  // characters beyond ASCII that the corpus uses often enough, most frequent first
  const extraCharacters = [...characterCounts]
    .filter(([c, count]) => !BASE_CHARACTERS.includes(c) && count >= 2)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([c]) => c);
  const base = [...BASE_CHARACTERS, ...extraCharacters];
  const fixed = SPECIAL_TOKENS.length + 256;
  if (!Number.isInteger(size) || size < fixed + base.length) throw new Error(`forge vocabulary: size must be an integer >= ${fixed + base.length}`);

  const tokens: string[] = [...SPECIAL_TOKENS];
  const types: number[] = [...SPECIAL_TYPES];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(SpmTokenType.BYTE);
  }
  const known = new Set<string>(base);
  const learned: string[] = [];
  let unreachable = 0;
  let exhausted = false;
  const wanted = size - fixed - base.length;
  const merges = bytePairMerges(unitCounts, known);
  // learn, check that the SPM tokenizer reaches every word piece, replace the ones it does not, repeat
  for (;;) {
    while (!exhausted && learned.length < wanted) {
      const next = merges.next();
      if (next.done) exhausted = true;
      else known.add(next.value), learned.push(next.value);
    }
    const unreached = new Set(unreachablePieces(assemble(tokens, types, base, learned, 0), learned));
    if (unreached.size) {
      unreachable += unreached.size;
      learned.splice(0, learned.length, ...learned.filter((piece) => !unreached.has(piece)));
      if (!exhausted) continue;
    }
    const padding = wanted - learned.length;
    return { ...assemble(tokens, types, base, learned, padding), stats: { merges: learned.length, padding, unreachable } };
  }
}

/**
 * The word pieces ("▁...") that do not come out as themselves when their own text is tokenized. Pieces
 * without "▁" cannot be checked this way (the tokenizer puts a space before the text); they are merge steps.
 */
function unreachablePieces(vocab: SpmVocab, learned: readonly string[]): string[] {
  const encoder = new SpmEncoder(vocab);
  const ids = new Map(vocab.tokens.map((t, i) => [t, i]));
  return learned.filter((piece) => {
    if (!piece.startsWith(SPM_SPACE)) return false;
    const encoded = encoder.encode(piece.slice(1).replaceAll(SPM_SPACE, ' '));
    return encoded.length !== 1 || encoded[0] !== ids.get(piece);
  });
}

function assemble(specialAndBytes: readonly string[], specialAndByteTypes: readonly number[], base: readonly string[], learned: readonly string[], padding: number): SpmVocab {
  const tokens = [...specialAndBytes, ...base, ...learned];
  const types = [...specialAndByteTypes, ...base.map(() => SpmTokenType.NORMAL), ...learned.map(() => SpmTokenType.NORMAL)];
  // special and byte tokens score 0 (as in Llama 2); normal tokens -1, -2, ...: the earlier, the sooner merged
  const scores = [...specialAndBytes.map(() => 0), ...base.map((_, i) => -(i + 1)), ...learned.map((_, i) => -(base.length + i + 1))];
  for (let i = 0; i < padding; i++) {
    tokens.push(`<unused${i}>`);
    types.push(SpmTokenType.UNUSED);
    scores.push(-(base.length + learned.length + i + 1));
  }
  return {
    tokens,
    scores: Float32Array.from(scores),
    types: Int32Array.from(types),
    specialIds: SPM_SPECIAL_IDS,
    firstByteTokenId: SPM_FIRST_BYTE_TOKEN_ID,
  };
}
