/**
 * The evaluation of the forge's storyworld model (models/storyworld/): 12 concrete concepts from the forge's
 * inventory, with its word lists as the measuring stick, and 8 story requests that name no concept, so what
 * the answer is about is left to the steering (the chat corpus answers such requests with random concepts).
 */
import { getConcept } from '../../src/forge/concepts.js';
import { evalConfigSchema, type EvalConfig } from './config.js';

export const STORYWORLD_CONCEPTS = [
  'dragon', 'ocean', 'forest', 'castle', 'space', 'rain', 'snow', 'bread', 'baker', 'music', 'train', 'garden',
] as const;

export const STORYWORLD_PROMPTS = [
  'Tell me a story.',
  'Can you tell me a story?',
  'Write a story.',
  'Please write a short story.',
  'I would like a story.',
  'Tell me a story, please.',
  'Give me a long story.',
  'Could you write a story about a girl named Mia?',
] as const;

export function storyworldConfig(): EvalConfig {
  return evalConfigSchema.parse({
    concepts: STORYWORLD_CONCEPTS.map((id) => {
      const concept = getConcept(id);
      const name = concept.topics[0]!;
      return { id, name, steer: { phrase: name }, words: [...concept.words] };
    }),
    prompts: [...STORYWORLD_PROMPTS],
    // the prompted arms add the concept the way the corpus's users add a constraint ("It should be short.")
    prompt_template: '{message} It should be about {name}.',
    system: 'You are a friendly storyteller.',
  });
}
