/**
 * Whether an answer uses a concept: one of its words as a whole word, case-insensitive, with an optional plural
 * "s" — the rule of the forge's mentionsConcept (src/forge/concepts.ts), for any word list.
 */
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function conceptMatcher(words: readonly string[]): (text: string) => boolean {
  const pattern = new RegExp(`\\b(?:${words.map(escapeRegExp).join('|')})s?\\b`, 'i');
  return (text) => pattern.test(text);
}
