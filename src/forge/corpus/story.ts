/** Writes one story: picks a plan (concepts, mood, length) and a template, and lets the template tell it. */
import { CONCEPTS } from '../concepts.js';
import type { Character } from './characters.js';
import type { Rng } from './random.js';
import { StoryContext, type Mood, type StoryLength, type StoryPlan, type StoryTemplate } from './story-context.js';
import { ADVENTURE_TEMPLATES } from './templates-adventure.js';
import { EVERYDAY_TEMPLATES } from './templates-everyday.js';
import { FORM_TEMPLATES } from './templates-forms.js';

export const STORY_TEMPLATES: readonly StoryTemplate[] = [...ADVENTURE_TEMPLATES, ...EVERYDAY_TEMPLATES, ...FORM_TEMPLATES];

export interface WrittenStory {
  text: string;
  template: string;
  /** the concepts woven in: the plan's, plus the feeling its mood calls for */
  concepts: string[];
  hero: Character;
  mood: Mood | undefined;
  length: StoryLength;
}

const CONCEPT_IDS = CONCEPTS.map((c) => c.id);

/** happy and sad never share a story: its ending could not honour both */
function compatible(ids: readonly string[]): boolean {
  return !(ids.includes('happy') && ids.includes('sad'));
}

/** 1-3 random concepts, in random order. */
export function randomConcepts(rng: Rng, count = rng.pick([1, 1, 1, 2, 2, 2, 3, 3])): string[] {
  for (;;) {
    const ids = rng.sample(CONCEPT_IDS, count);
    if (compatible(ids)) return ids;
  }
}

export function randomLength(rng: Rng): StoryLength {
  return rng.pick(['short', 'medium', 'medium', 'long']);
}

/** A story nobody asked for: random concepts, a mood now and then, and whatever mood a feeling concept brings. */
export function randomStoryPlan(rng: Rng): StoryPlan {
  const concepts = randomConcepts(rng);
  return { concepts, mood: moodFor(concepts) ?? (rng.chance(0.15) ? 'happy' : rng.chance(0.1) ? 'sad' : undefined), length: randomLength(rng) };
}

/** The mood a happy or sad concept implies, so its story ends the same way. */
export function moodFor(concepts: readonly string[]): Mood | undefined {
  return concepts.includes('happy') ? 'happy' : concepts.includes('sad') ? 'sad' : undefined;
}

export function writeStory(rng: Rng, plan: StoryPlan, template: StoryTemplate = rng.pick(STORY_TEMPLATES)): WrittenStory {
  if (!compatible([...plan.concepts, ...(plan.mood ? [plan.mood] : [])])) {
    throw new Error(`story: concepts ${plan.concepts.join(', ')} with mood ${plan.mood} cannot be honoured together`);
  }
  const context = new StoryContext(rng, { ...plan, mood: plan.mood ?? moodFor(plan.concepts) }, template.firstPerson ?? false);
  const text = context.finish(template.make(context));
  return {
    text,
    template: template.id,
    concepts: context.concepts.map((c) => c.id),
    hero: context.hero,
    mood: context.mood,
    length: context.length,
  };
}
