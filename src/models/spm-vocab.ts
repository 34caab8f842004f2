/**
 * A deterministic SentencePiece-style vocabulary ("llama" tokenizer model) for the random test models.
 *
 * llama.cpp's SPM tokenizer starts from single UTF-8 characters and repeatedly merges the adjacent pair whose
 * concatenation is a token with the highest score; whatever never merges and is not a token falls back to
 * <0xXX> byte tokens. A word token is therefore only reachable if the intermediate pieces exist. We keep the
 * vocabulary *prefix-closed*: every "▁story" comes after "▁s", "▁st", "▁sto", "▁stor". Then the first
 * segment of a word is always a prefix, and merging it with its neighbour always yields another prefix, which
 * is a token; so whatever order the merges run in, a vocabulary word ends up as one token. Because every
 * token's prefixes come earlier in the list, truncating the list to any size keeps this property.
 */

/** llama_token_type (tokenizer.ggml.token_type) */
export const SpmTokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** SentencePiece's whitespace marker (U+2581 LOWER ONE EIGHTH BLOCK) */
export const SPM_SPACE = '\u2581';

export const SPM_SPECIAL_IDS = { unk: 0, bos: 1, eos: 2, imStart: 3, imEnd: 4 } as const;
const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'] as const;
export const SPM_FIRST_BYTE_TOKEN_ID = SPECIAL_TOKENS.length;

export interface SpmVocab {
  tokens: string[];
  /** higher = merged earlier; normal tokens get -1, -2, ... in order, special and byte tokens 0 (as in Llama 2) */
  scores: Float32Array;
  types: Int32Array;
  specialIds: typeof SPM_SPECIAL_IDS;
  /** id of <0x00>; byte b is firstByteTokenId + b */
  firstByteTokenId: number;
}

/**
 * Words in priority order. The first group carries the demo prompt and the chat roles so that even the
 * 512-token test vocabulary holds them; the rest are common English words, roughly by frequency.
 */
const WORDS = `
the a to and of is in it you I tell me story about ocean user assistant system hello
that for was on are with he as his they be at one have this from or had by but not what all were we when
your can said there use an each which she do how their if will up other out many then them these so some
her would make like him into time has look two more write go see number no way could people my than first
water been call who its now find long down day did get come made may part over new sound take only little
work know place year live back give most very after thing our just name good sentence man think say great
where help through much before line right too mean old any same boy follow came want show also around
form three small set put end does another well large must big even such because turn here why ask went
men read need land different home us move try kind hand picture again change off play spell air away
animal house point page letter mother answer found study still learn should world high every near add
food between own below country plant last school father keep tree never start city earth eye light
thought head under saw left few while along might close something seem next hard open example begin life
always those both paper together got group often run important until children side feet car mile night
walk white sea began grow took river four carry state once book hear stop without second later miss idea
enough eat face watch far really almost let above girl sometimes mountain cut young talk soon list song
being leave family happy sun sky wave waves fish ship boat beach sand deep blue whale island storm wind
shore tide coral salt swim sail star moon forest dream magic king queen dragon friend love heart voice
morning evening quiet dark bright warm cold lost journey adventure secret old small beautiful strange
yes thank thanks please sorry today tomorrow question help explain why how who reply response text words
language model steer steering feature
`;

/** Capitalized forms of likely sentence starters (SPM is case-sensitive). */
const CAPITALIZED = `The Tell Once Hello What How Write Please Can A It He She They We You In There This My One When Yes No`;

/** Bare (no leading ▁) continuations: suffixes, and words right after a newline or special token. */
const CONTINUATIONS = `s ed ing er ly es est tion ness ment ful less able 've 're 'll 'm 'd 's n't Hello The`;

/** English letters roughly by frequency, so the generated padding pieces start with the most useful ones. */
const LETTERS_BY_FREQUENCY = 'etaoinshrdlcumwfgypbvkjxqz';

function* paddingPieces(): Generator<string> {
  // all letter n-grams with and without the space marker, n = 2, 3, 4: far more than 32000 tokens
  let previous: string[] = [''];
  for (let length = 1; length <= 4; length++) {
    const current: string[] = [];
    for (const stem of previous) for (const letter of LETTERS_BY_FREQUENCY) current.push(stem + letter);
    if (length >= 2) {
      for (const piece of current) yield SPM_SPACE + piece;
      for (const piece of current) yield piece;
    }
    previous = current;
  }
}

function* normalPieces(): Generator<string> {
  yield SPM_SPACE; // a lone "▁" must be a token, or it would byte-fall-back and detokenize as "▁", not " "
  for (let code = 0x21; code < 0x7f; code++) yield String.fromCharCode(code);
  const words = WORDS.split(/\s+/).filter(Boolean);
  const capitalized = CAPITALIZED.split(/\s+/).filter(Boolean);
  // the first 20 words and the capitalized demo starters first, then the rest
  for (const word of [...words.slice(0, 20), ...capitalized.slice(0, 6), ...words.slice(20), ...capitalized.slice(6)]) {
    yield* withPrefixes(SPM_SPACE + word);
  }
  for (const piece of CONTINUATIONS.split(/\s+/).filter(Boolean)) yield* withPrefixes(piece);
  yield* paddingPieces();
}

/** The piece preceded by its prefixes (the ones of at least two characters: single characters are tokens). */
function* withPrefixes(piece: string): Generator<string> {
  const characters = [...piece];
  for (let length = 2; length <= characters.length; length++) yield characters.slice(0, length).join('');
}

/** Builds a vocabulary of exactly `size` tokens. */
export function buildSpmVocab(size: number): SpmVocab {
  const minimum = SPECIAL_TOKENS.length + 256 + 1;
  if (!Number.isInteger(size) || size < minimum) throw new Error(`vocabulary size must be an integer >= ${minimum}`);
  const tokens: string[] = [...SPECIAL_TOKENS];
  const types: number[] = [SpmTokenType.UNKNOWN, SpmTokenType.CONTROL, SpmTokenType.CONTROL, SpmTokenType.CONTROL, SpmTokenType.CONTROL];
  // llama.cpp finds byte tokens by the exact text "<0x%02X>" (upper-case hex), the newline one at load time
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(SpmTokenType.BYTE);
  }
  const scores: number[] = tokens.map(() => 0);
  const seen = new Set(tokens);
  let rank = 0;
  for (const piece of normalPieces()) {
    if (tokens.length >= size) break;
    if (seen.has(piece)) continue;
    seen.add(piece);
    tokens.push(piece);
    types.push(SpmTokenType.NORMAL);
    scores.push(-++rank); // -1, -2, ...: earlier pieces merge first
  }
  if (tokens.length < size) throw new Error(`vocabulary size ${size} is larger than this generator supports`);
  return {
    tokens,
    scores: Float32Array.from(scores),
    types: Int32Array.from(types),
    specialIds: SPM_SPECIAL_IDS,
    firstByteTokenId: SPM_FIRST_BYTE_TOKEN_ID,
  };
}
