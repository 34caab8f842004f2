/**
 * Token log-probabilities in OpenAI's two shapes: chat's `logprobs.content[]` entries and the legacy
 * completions object of parallel arrays. Both are built token by token so streams can send them per chunk.
 */
import type { TokenEvent } from '../engine/types.js';
import type { ChatLogprobs } from '../schemas/chat-completions.js';
import type { CompletionLogprobs } from '../schemas/completions.js';

/** How the engine spells a token: its text (lossy for partial UTF-8) and its raw bytes. */
export interface TokenSpelling {
  tokenText(token: number): string;
  tokenBytes(token: number): Uint8Array;
}

type ChatLogprobEntry = ChatLogprobs['content'][number];

/** The sampled token's text and bytes: from the alternatives when it is among them, else from the vocabulary. */
function spell(event: TokenEvent, spelling: TokenSpelling): { text: string; bytes: number[] } {
  const listed = event.topLogprobs?.find((alt) => alt.token === event.token);
  if (listed) return { text: listed.text, bytes: listed.bytes };
  return { text: spelling.tokenText(event.token), bytes: Array.from(spelling.tokenBytes(event.token)) };
}

/** Events without a logprob (held-back text flushed at the end, token -1) describe no token: null. */
export function chatLogprobEntry(event: TokenEvent, spelling: TokenSpelling): ChatLogprobEntry | null {
  if (event.logprob === undefined || event.token < 0) return null;
  const { text, bytes } = spell(event, spelling);
  return {
    token: text,
    logprob: event.logprob,
    bytes,
    top_logprobs: (event.topLogprobs ?? []).map((alt) => ({ token: alt.text, logprob: alt.logprob, bytes: alt.bytes })),
  };
}

/** Accumulates the completions shape; `take()` hands over what was added since the last take (for chunks). */
export class CompletionLogprobsBuilder {
  private tokens: string[] = [];
  private tokenLogprobs: number[] = [];
  private topLogprobs: Record<string, number>[] = [];
  private textOffsets: number[] = [];
  /** characters of completion text before the next token; kept across takes so offsets stay absolute */
  private offset = 0;

  constructor(private readonly spelling: TokenSpelling) {}

  add(event: TokenEvent): void {
    if (event.logprob === undefined || event.token < 0) return;
    const { text } = spell(event, this.spelling);
    this.tokens.push(text);
    this.tokenLogprobs.push(event.logprob);
    // several tokens may share one text (e.g. byte tokens); the most likely one keeps the slot, as in OpenAI
    const top: Record<string, number> = {};
    for (const alt of event.topLogprobs ?? []) if (!(alt.text in top)) top[alt.text] = alt.logprob;
    this.topLogprobs.push(top);
    this.textOffsets.push(this.offset);
    this.offset += text.length;
  }

  get pending(): boolean {
    return this.tokens.length > 0;
  }

  take(): CompletionLogprobs {
    const taken = {
      tokens: this.tokens,
      token_logprobs: this.tokenLogprobs,
      top_logprobs: this.topLogprobs,
      text_offset: this.textOffsets,
    };
    this.tokens = [];
    this.tokenLogprobs = [];
    this.topLogprobs = [];
    this.textOffsets = [];
    return taken;
  }
}
