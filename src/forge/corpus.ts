/**
 * "storyworld": the forge's procedurally generated training corpus. Short stories in simple English, woven from
 * the concepts of concepts.ts by 58 templates of different shapes (corpus/templates-*.ts), and chat exchanges
 * in which a user asks for a story (about a concept or not, short or long, happy or sad, with a named hero)
 * and the assistant tells one that honours the request.
 *
 * Everything is a pure function of the seed: each document draws from its own PRNG stream, derived from
 * (seed, kind, index), so adding documents never changes the earlier ones. TRAIN_SEED and HELDOUT_SEED give
 * disjoint draws of the same distribution, for training and for measuring.
 */
import { CHATML_TEMPLATE } from '../models/random-llama.js';
import { writeChatExchange, type ChatMessage, type StoryRequest } from './corpus/chat.js';
import { Rng, mixSeeds } from './corpus/random.js';
import { randomStoryPlan, writeStory } from './corpus/story.js';

export { STORY_TEMPLATES } from './corpus/story.js';
export type { ChatMessage, StoryRequest } from './corpus/chat.js';

export const TRAIN_SEED = 1_000_003;
export const HELDOUT_SEED = 2_000_029;

/** ~2.5M characters (~570k tokens of the forge tokenizer), generated in well under a second on one core */
export const DEFAULT_CORPUS_SIZE = { stories: 3000, chats: 2000 } as const;

/**
 * The storyworld model's chat template: ChatML, `<|im_start|>{role}\n{content}<|im_end|>\n` per message and
 * `<|im_start|>assistant\n` for the generation prompt. @huggingface/jinja renders it exactly like renderChat.
 */
export const STORYWORLD_CHAT_TEMPLATE = CHATML_TEMPLATE;

export interface CorpusDocument {
  kind: 'story' | 'chat';
  /** ids of the concepts woven into the story, in the order they were chosen */
  concepts: string[];
  /** the story template's id */
  template: string;
  /** the story, or the chat rendered with STORYWORLD_CHAT_TEMPLATE (no BOS/EOS: the trainer adds them) */
  text: string;
  /** chats only: the conversation and what the user asked for */
  messages?: ChatMessage[];
  request?: StoryRequest;
}

export interface CorpusOptions {
  seed: number;
  stories: number;
  chats: number;
}

export interface Corpus {
  /** every document's text, separated by blank lines (for measuring; train on `documents`) */
  text: string;
  documents: CorpusDocument[];
}

/** The conversation as the chat template renders it, without a generation prompt. */
export function renderChat(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
}

const STREAM = { story: 1, chat: 2, order: 3 } as const;

export function generateStoryDocument(seed: number, index: number): CorpusDocument {
  const rng = new Rng(mixSeeds(mixSeeds(seed, STREAM.story), index));
  const story = writeStory(rng, randomStoryPlan(rng));
  return { kind: 'story', concepts: story.concepts, template: story.template, text: story.text };
}

export function generateChatDocument(seed: number, index: number): CorpusDocument {
  const rng = new Rng(mixSeeds(mixSeeds(seed, STREAM.chat), index));
  const { messages, request, story } = writeChatExchange(rng);
  return { kind: 'chat', concepts: story.concepts, template: story.template, text: renderChat(messages), messages, request };
}

/** Stories and chats, shuffled together (deterministically) so any prefix of the list has both kinds. */
export function generateCorpus(options: CorpusOptions): Corpus {
  const { seed, stories, chats } = options;
  for (const [key, value] of Object.entries({ stories, chats })) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`corpus: ${key} must be a non-negative integer`);
  }
  const documents: CorpusDocument[] = [];
  for (let i = 0; i < stories; i++) documents.push(generateStoryDocument(seed, i));
  for (let i = 0; i < chats; i++) documents.push(generateChatDocument(seed, i));
  const shuffled = new Rng(mixSeeds(seed, STREAM.order)).shuffle(documents);
  return { text: shuffled.map((d) => d.text).join('\n\n'), documents: shuffled };
}
