/**
 * Chat exchanges: a user asks for a story, about some concepts or none, maybe short or long, happy or sad, or
 * with a named hero, in many phrasings; the assistant answers with a story that honours every part of the
 * request. Unasked-for stories use random concepts, which is what steering later replaces.
 */
import { getConcept } from '../concepts.js';
import { randomCharacter, type Character } from './characters.js';
import type { Rng } from './random.js';
import type { Mood, StoryLength } from './story-context.js';
import { moodFor, randomConcepts, randomLength, writeStory, type WrittenStory } from './story.js';

export interface StoryRequest {
  /** the concepts the user named (0-3) */
  concepts: string[];
  mood?: Mood;
  length?: Exclude<StoryLength, 'medium'>;
  /** a hero the user named: "a girl named Mia" */
  hero?: Character;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatExchange {
  messages: ChatMessage[];
  request: StoryRequest;
  story: WrittenStory;
}

const SYSTEM_PROMPTS = [
  'You are a helpful assistant.',
  'You are a friendly storyteller.',
  'You tell short stories in simple English.',
];

export function randomRequest(rng: Rng): StoryRequest {
  const count = rng.pick([0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 3]);
  const concepts = count ? randomConcepts(rng, count) : [];
  const request: StoryRequest = { concepts };
  const impliedMood = moodFor(concepts);
  // a happy or sad concept already sets the mood
  if (!impliedMood && rng.chance(0.2)) request.mood = rng.pick(['happy', 'sad']);
  if (rng.chance(0.3)) request.length = rng.pick(['short', 'long']);
  if (rng.chance(0.15)) request.hero = randomCharacter(rng, [], true);
  return request;
}

function topic(rng: Rng, id: string): string {
  return rng.pick(getConcept(id).topics);
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const FRAMES = [
  'Tell me {np}.', 'Can you tell me {np}?', 'Could you write {np}?', 'Write {np}.', 'Please write {np}.', 'Please tell me {np}.',
  'I would like {np}.', 'I want {np}.', 'Tell me {np}, please.', 'Can you write {np}?', 'Give me {np}.', '{Np}, please.',
  'Hi! Can you tell me {np}?', 'Write me {np}.', 'Could you tell me {np}?', 'I would love to hear {np}.',
];

/** The user's words for a request. */
export function phraseRequest(rng: Rng, request: StoryRequest): string {
  const topics = request.concepts.map((id) => topic(rng, id));
  const heroPhrase = request.hero ? `${request.hero.description} named ${request.hero.name}` : undefined;
  // constraints go either into the noun phrase ("a short happy story") or into a second sentence
  const trailing = rng.chance(0.3);
  const adjectives = trailing ? [] : [request.length, request.mood].filter((x) => x !== undefined);
  let np = `a ${[...adjectives, 'story'].join(' ')}`;
  const subjects = [...topics];
  const heroAsSubject = heroPhrase && rng.chance(0.5);
  if (heroAsSubject) subjects.push(heroPhrase);
  if (subjects.length) np += ` about ${list(subjects)}`;
  if (heroPhrase && !heroAsSubject) np += rng.chance(0.5) ? ` with ${heroPhrase}` : ` where the hero is ${heroPhrase}`;
  const frame = rng.pick(FRAMES);
  let text = frame.replace('{np}', np).replace('{Np}', np[0]!.toUpperCase() + np.slice(1));
  if (trailing) {
    if (request.length) text += rng.pick([` Make it ${request.length}.`, ` It should be ${request.length}.`, ` Keep it ${request.length}.`]);
    if (request.mood) text += rng.pick([` Make it ${request.mood}.`, ` It should be a ${request.mood} story.`, ` I want a ${request.mood} ending.`]);
  }
  return text;
}

/** An opening line for the answer, now and then; it names only what the story is about. */
function preface(rng: Rng, request: StoryRequest): string {
  if (!rng.chance(0.35)) return '';
  const about = request.concepts.length ? ` about ${list(request.concepts.map((id) => topic(rng, id)))}` : '';
  const kind = [request.length, request.mood].filter(Boolean).join(' ');
  const story = `a ${kind ? kind + ' ' : ''}story${about}`;
  return rng.pick([`Here is ${story}.`, `Of course! Here is ${story}.`, `Sure! Here is ${story}.`, `Here is ${story}:`, 'Of course!', 'Sure!']) + '\n\n';
}

/** A whole exchange: the request, its phrasing and a story that honours it. */
export function writeChatExchange(rng: Rng): ChatExchange {
  const request = randomRequest(rng);
  let concepts = request.concepts;
  if (!concepts.length) {
    // a story nobody named the topic of still has one: random concepts that agree with the asked mood
    do concepts = randomConcepts(rng);
    while (request.mood && moodFor(concepts) && moodFor(concepts) !== request.mood);
  }
  const story = writeStory(rng, {
    concepts,
    mood: request.mood,
    length: request.length ?? randomLength(rng),
    ...(request.hero ? { hero: request.hero } : {}),
  });
  const messages: ChatMessage[] = [];
  if (rng.chance(0.1)) messages.push({ role: 'system', content: rng.pick(SYSTEM_PROMPTS) });
  messages.push({ role: 'user', content: phraseRequest(rng, request) });
  messages.push({ role: 'assistant', content: preface(rng, request) + story.text });
  return { messages, request, story };
}
