/** The storyworld corpus: deterministic, varied, and every story mentions exactly the concepts it was built from. */
import { Template } from '@huggingface/jinja';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONCEPTS, conceptWords, mentionedConcepts, mentionsConcept } from '../src/forge/concepts.js';
import {
  DEFAULT_CORPUS_SIZE,
  HELDOUT_SEED,
  STORY_TEMPLATES,
  STORYWORLD_CHAT_TEMPLATE,
  TRAIN_SEED,
  generateCorpus,
  renderChat,
  type Corpus,
  type CorpusDocument,
} from '../src/forge/corpus.js';
import { CHARACTER_NAMES } from '../src/forge/corpus/characters.js';

let train: Corpus;
let generationMs: number;
beforeAll(() => {
  const started = performance.now();
  train = generateCorpus({ seed: TRAIN_SEED, ...DEFAULT_CORPUS_SIZE });
  generationMs = performance.now() - started;
});

const withoutChatMarkup = (text: string): string => text.replace(/<\|im_(start|end)\|>(system|user|assistant)?/g, '');
const answerOf = (d: CorpusDocument): string => d.messages!.find((m) => m.role === 'assistant')!.content;

describe('concepts', () => {
  it('has at least 24 concepts of several kinds, each with 8-15 words and topics that name it', () => {
    expect(CONCEPTS.length).toBeGreaterThanOrEqual(24);
    expect(new Set(CONCEPTS.map((c) => c.kind)).size).toBeGreaterThanOrEqual(8);
    expect(new Set(CONCEPTS.map((c) => c.id)).size).toBe(CONCEPTS.length);
    for (const c of CONCEPTS) {
      expect(c.words.length, c.id).toBeGreaterThanOrEqual(8);
      expect(c.words.length, c.id).toBeLessThanOrEqual(15);
      expect(conceptWords(c.id)).toBe(c.words);
      for (const topic of c.topics) expect(mentionedConcepts(topic), `${c.id}: ${topic}`).toEqual([c.id]);
    }
  });

  it('gives every word to exactly one concept, and no character a concept-word name', () => {
    for (const c of CONCEPTS) for (const word of c.words) expect(mentionedConcepts(word), word).toEqual([c.id]);
    for (const name of CHARACTER_NAMES) expect(mentionedConcepts(name), name).toEqual([]);
  });

  it('matches whole words, any case, with an optional plural s', () => {
    expect(mentionsConcept('Two dogs barked.', 'dog')).toBe(true);
    expect(mentionsConcept("The dog's bowl", 'dog')).toBe(true);
    expect(mentionsConcept('A DOG!', 'dog')).toBe(true);
    expect(mentionsConcept('"Dog," she said.', 'dog')).toBe(true);
    expect(mentionsConcept('dogma and hotdogs', 'dog')).toBe(false);
    expect(mentionsConcept('The seas were calm.', 'ocean')).toBe(true);
    expect(mentionsConcept('All four seasons', 'ocean')).toBe(false);
    expect(mentionsConcept('a sunny day', 'morning')).toBe(false);
    expect(mentionsConcept('the sun-baked road', 'morning')).toBe(true); // a hyphen is a word boundary
    expect(mentionsConcept('', 'dragon')).toBe(false);
    expect(() => mentionsConcept('x', 'unicorn')).toThrow(/unknown concept/);
  });
});

describe('corpus', () => {
  it('is deterministic, and the held-out seed draws different documents', () => {
    const a = generateCorpus({ seed: TRAIN_SEED, stories: 200, chats: 100 });
    const b = generateCorpus({ seed: TRAIN_SEED, stories: 200, chats: 100 });
    const heldout = generateCorpus({ seed: HELDOUT_SEED, stories: 200, chats: 100 });
    expect(b.text).toBe(a.text);
    expect(heldout.text).not.toBe(a.text);
    const trainTexts = new Set(a.documents.map((d) => d.text));
    expect(heldout.documents.filter((d) => trainTexts.has(d.text)).length).toBeLessThan(3);
    // each document has its own stream: more documents leave the earlier ones as they were
    const bigger = new Set(generateCorpus({ seed: TRAIN_SEED, stories: 400, chats: 200 }).documents.map((d) => d.text));
    expect(a.documents.every((d) => bigger.has(d.text))).toBe(true);
  });

  it('has the default size in well under 10 s, with both kinds of document', () => {
    expect(train.text.length).toBeGreaterThan(1_500_000);
    expect(train.text.length).toBeLessThan(3_000_000);
    expect(generationMs).toBeLessThan(10_000);
    expect(train.documents.filter((d) => d.kind === 'story').length).toBe(DEFAULT_CORPUS_SIZE.stories);
    expect(train.documents.filter((d) => d.kind === 'chat').length).toBe(DEFAULT_CORPUS_SIZE.chats);
  });

  it('uses at least 50 templates and every concept, each many times', () => {
    expect(STORY_TEMPLATES.length).toBeGreaterThanOrEqual(50);
    expect(new Set(train.documents.map((d) => d.template)).size).toBe(STORY_TEMPLATES.length);
    const uses = new Map<string, number>();
    for (const d of train.documents) for (const id of d.concepts) uses.set(id, (uses.get(id) ?? 0) + 1);
    for (const c of CONCEPTS) expect(uses.get(c.id) ?? 0, c.id).toBeGreaterThan(100);
  });

  it('mentions exactly the concepts each document records', () => {
    const wrong = train.documents
      .filter((d) => mentionedConcepts(withoutChatMarkup(d.text)).sort().join() !== [...d.concepts].sort().join())
      .map((d) => `${d.template} [${d.concepts}] mentions [${mentionedConcepts(withoutChatMarkup(d.text))}]: ${d.text}`);
    expect(wrong.slice(0, 3)).toEqual([]);
  });

  it('fills every slot and writes clean sentences', () => {
    for (const d of train.documents) {
      const text = withoutChatMarkup(d.text);
      expect(text, d.template).not.toMatch(/[{}[\]|]|undefined| {2}|\bI's\b|\ba [aeiou]\w/);
      expect(text.trim(), d.template).toMatch(/([.!?"]|\n[A-Z][a-z]+)$/); // ends a sentence, or with a signature
    }
  });

  it('stories of different lengths differ in length', () => {
    const mean = (length: string): number => {
      const answers = train.documents.filter((d) => d.kind === 'chat' && d.request!.length === length).map(answerOf);
      return answers.reduce((sum, a) => sum + a.length, 0) / answers.length;
    };
    const unasked = train.documents.filter((d) => d.kind === 'chat' && !d.request!.length).map(answerOf);
    const unaskedMean = unasked.reduce((sum, a) => sum + a.length, 0) / unasked.length;
    // unasked lengths are a mix: a quarter short, half medium, a quarter long
    expect(mean('short')).toBeLessThan(unaskedMean * 0.8);
    expect(mean('long')).toBeGreaterThan(unaskedMean * 1.3);
  });
});

describe('chat exchanges', () => {
  let chats: CorpusDocument[];
  beforeAll(() => {
    chats = train.documents.filter((d) => d.kind === 'chat');
  });

  it('are rendered with the chat template, which @huggingface/jinja renders the same way', () => {
    const template = new Template(STORYWORLD_CHAT_TEMPLATE);
    for (const d of chats.slice(0, 50)) {
      expect(d.text).toBe(renderChat(d.messages!));
      expect(template.render({ messages: d.messages, add_generation_prompt: false })).toBe(d.text);
    }
    const prompt = [{ role: 'user' as const, content: 'Tell me a story.' }];
    expect(template.render({ messages: prompt, add_generation_prompt: true })).toBe(
      '<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(chats[0]!.text).toMatch(/^<\|im_start\|>(system|user)\n[\s\S]+<\|im_start\|>assistant\n[\s\S]+<\|im_end\|>\n$/);
  });

  it('ask in many ways, for concepts or none, with and without constraints', () => {
    const prompts = chats.map((d) => d.messages!.find((m) => m.role === 'user')!.content);
    expect(new Set(prompts).size).toBeGreaterThan(chats.length * 0.5);
    expect(prompts).toContain('Tell me a story.');
    expect(prompts.some((p) => /^Tell me a story about (a|the) dragon\.$/.test(p))).toBe(true);
    const requests = chats.map((d) => d.request!);
    expect(requests.filter((r) => r.concepts.length === 0).length).toBeGreaterThan(chats.length * 0.15);
    expect(requests.filter((r) => r.concepts.length >= 2).length).toBeGreaterThan(chats.length * 0.1);
    expect(requests.filter((r) => r.mood).length).toBeGreaterThan(chats.length * 0.1);
    expect(requests.filter((r) => r.hero).length).toBeGreaterThan(chats.length * 0.08);
  });

  it('answer with a story that honours the request', () => {
    for (const d of chats) {
      const { request } = d;
      const prompt = d.messages!.find((m) => m.role === 'user')!.content;
      const answer = answerOf(d);
      for (const id of request!.concepts) {
        expect(mentionsConcept(prompt, id), prompt).toBe(true);
        expect(mentionsConcept(answer, id), `${prompt}\n${answer}`).toBe(true);
      }
      if (request!.mood) {
        expect(prompt).toContain(request!.mood);
        expect(mentionsConcept(answer, request!.mood), `${prompt}\n${answer}`).toBe(true);
      }
      if (request!.length) expect(prompt).toContain(request!.length);
      if (request!.hero) {
        expect(prompt).toContain(`${request!.hero.description} named ${request!.hero.name}`);
        expect(answer).toContain(request!.hero.name);
      }
      // a story nobody named the topic of still has one
      expect(d.concepts.length).toBeGreaterThan(0);
    }
  });
});
