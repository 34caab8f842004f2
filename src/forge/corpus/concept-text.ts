/** The story text of every concept, from the two halves of the inventory. */
import { CONCEPTS } from '../concepts.js';
import { DAILY_CONCEPT_TEXT } from './concept-lines-daily.js';
import { WORLD_CONCEPT_TEXT } from './concept-lines-world.js';

export interface ConceptText {
  /** sentences about the concept, with story slots ({hero}, {his}, [a|b], ...) */
  lines: readonly string[];
  /** noun phrases for generic slots ("{hero} kept thinking about ___") */
  things: readonly string[];
}

const ALL: Record<string, ConceptText> = { ...WORLD_CONCEPT_TEXT, ...DAILY_CONCEPT_TEXT };

for (const c of CONCEPTS) {
  if (!ALL[c.id]) throw new Error(`concept "${c.id}" has no story text`);
}

export function conceptText(id: string): ConceptText {
  const text = ALL[id];
  if (!text) throw new Error(`concept "${id}" has no story text`);
  return text;
}
