/**
 * The prompted arms of /v1/compare: the steering asked for in words instead of done inside the model. The last
 * user message is rewritten by a template; by default the steering phrases are appended as an instruction
 * ("Make sure to use strong combinatorial reasoning."), which is what a user would try first.
 */
import { InvalidRequestError } from '../errors.js';
import type { ChatMessage } from '../schemas/chat-completions.js';
import type { SteerItem, SteerSpec } from '../steering/steer-schema.js';

function steerItems(steer: SteerSpec): SteerItem[] {
  if (typeof steer === 'string') return [{ phrase: steer }];
  return Array.isArray(steer) ? steer : [steer];
}

function joinPhrases(phrases: readonly string[]): string {
  return phrases.join(' and ');
}

/**
 * The default template for this steering, or null when some item has no words to say (a feature or a vector):
 * then the caller must give a template. Negative strengths steer away, so they become "not to use".
 */
export function defaultPromptTemplate(steer: SteerSpec): string | null {
  const items = steerItems(steer);
  if (items.length === 0 || items.some((item) => item.phrase === undefined)) return null;
  const towards = items.filter((item) => (item.strength ?? 1) >= 0).map((item) => item.phrase!);
  const away = items.filter((item) => (item.strength ?? 1) < 0).map((item) => item.phrase!);
  const sentences = [];
  if (towards.length) sentences.push(`Make sure to use ${joinPhrases(towards)}.`);
  if (away.length) sentences.push(`Make sure not to use ${joinPhrases(away)}.`);
  return `{message} ${sentences.join(' ')}`;
}

function contentText(message: ChatMessage): string {
  // the same joining the chat template applies to text parts
  return typeof message.content === 'string' ? message.content : message.content.map((part) => part.text).join('\n');
}

export interface PromptedMessages {
  messages: ChatMessage[];
  /** the rewritten last user message */
  userMessage: string;
}

/** The last user message's text, as the unprompted arms see it. */
export function lastUserMessage(messages: readonly ChatMessage[]): string | null {
  const last = messages.findLast((message) => message.role === 'user');
  return last ? contentText(last) : null;
}

/** Rewrites the last user message with `template` ({message}, {phrase}); the default one when none is given. */
export function promptedMessages(messages: readonly ChatMessage[], steer: SteerSpec, template: string | undefined): PromptedMessages {
  const at = messages.findLastIndex((message) => message.role === 'user');
  if (at < 0) throw new InvalidRequestError('messages', 'the prompted arms rewrite the last user message, and there is none');
  const phrases = steerItems(steer).flatMap((item) => (item.phrase === undefined ? [] : [item.phrase]));
  const chosen = template ?? defaultPromptTemplate(steer);
  if (chosen === null) {
    throw new InvalidRequestError(
      'prompt_template',
      'the prompted arms need a prompt_template: the steering has feature or vector items (or none), which have no words to put in the prompt',
    );
  }
  if (chosen.includes('{phrase}') && phrases.length === 0) {
    throw new InvalidRequestError('prompt_template', 'prompt_template uses {phrase}, but the steering has no phrase');
  }
  // one pass, so a {phrase} inside the message (or a {message} inside a phrase) is left as written
  const userMessage = chosen.replace(/\{(message|phrase)\}/g, (_, key: string) =>
    key === 'message' ? contentText(messages[at]!) : joinPhrases(phrases),
  );
  const rewritten = messages.map((message, i) => (i === at ? { ...message, content: userMessage } : message));
  return { messages: rewritten, userMessage };
}
