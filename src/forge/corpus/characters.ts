/**
 * The people in the stories. Names that are also concept words (Rose, Ruby, Violet, Robin, Poppy, Daisy,
 * Sunny, ...) are left out, so a name never counts as a mention of a concept.
 */
import type { Rng } from './random.js';

export type Gender = 'female' | 'male';

export interface Character {
  name: string;
  gender: Gender;
  /** how the story introduces them: "a girl", "an old man" */
  description: string;
}

const FEMALE_NAMES = `Mia Ava Lily Emma Zoe Nora Lucy Anna Ella Maya Sara Ivy Clara Leah Grace Alice Tess Nina Molly
  Ada Jane Beth Kira Lena Hazel Olive Greta Iris Julia Pia`.split(/\s+/).filter(Boolean);
const MALE_NAMES = `Leo Sam Max Ben Tom Jack Finn Noah Eli Owen Theo Hugo Luke Adam Milo Oscar Felix Jonah Ravi Omar
  Ivan Pete Ned Kai Toby Arlo Dev Emil Gus Rory`.split(/\s+/).filter(Boolean);

const FEMALE_DESCRIPTIONS = [
  'a girl', 'a little girl', 'a young girl', 'an old woman', 'a young woman', 'a curious girl', 'a clever girl',
  'a quiet girl', 'a brave girl', 'a kind old woman',
];
const MALE_DESCRIPTIONS = [
  'a boy', 'a little boy', 'a young boy', 'an old man', 'a young man', 'a curious boy', 'a clever boy', 'a quiet boy',
  'a brave boy', 'a kind old man',
];
/** the plain ones a user names in a request: "a story about a girl named Mia" */
const REQUEST_DESCRIPTIONS: Record<Gender, readonly string[]> = {
  female: ['a girl', 'a little girl', 'an old woman', 'a young woman'],
  male: ['a boy', 'a little boy', 'an old man', 'a young man'],
};

export const CHARACTER_NAMES: readonly string[] = [...FEMALE_NAMES, ...MALE_NAMES];

/** A random character whose name is none of `taken`. */
export function randomCharacter(rng: Rng, taken: readonly string[] = [], forRequest = false): Character {
  const gender: Gender = rng.chance(0.5) ? 'female' : 'male';
  const names = (gender === 'female' ? FEMALE_NAMES : MALE_NAMES).filter((n) => !taken.includes(n));
  const descriptions = forRequest
    ? REQUEST_DESCRIPTIONS[gender]
    : gender === 'female'
      ? FEMALE_DESCRIPTIONS
      : MALE_DESCRIPTIONS;
  return { name: rng.pick(names), gender, description: rng.pick(descriptions) };
}

export interface Pronouns {
  subject: string;
  object: string;
  possessive: string;
  reflexive: string;
}

export const FIRST_PERSON: Pronouns = { subject: 'I', object: 'me', possessive: 'my', reflexive: 'myself' };

export function pronouns(gender: Gender): Pronouns {
  return gender === 'female'
    ? { subject: 'she', object: 'her', possessive: 'her', reflexive: 'herself' }
    : { subject: 'he', object: 'him', possessive: 'his', reflexive: 'himself' };
}
