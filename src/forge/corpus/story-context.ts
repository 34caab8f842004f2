/**
 * What a story template works with: the cast, the concepts to weave in, the mood and the length, and the text
 * helpers. Templates return paragraphs of raw sentences with slots; `finish` fills the slots ({hero}, {his},
 * [a|b] choices, ...), capitalises each sentence and joins the paragraphs, so templates stay short and every
 * random choice comes from the story's own PRNG.
 */
import { getConcept, mentionsConcept, type Concept } from '../concepts.js';
import { FIRST_PERSON, pronouns, randomCharacter, type Character, type Pronouns } from './characters.js';
import { conceptText } from './concept-text.js';
import type { Rng } from './random.js';
import {
  ELDERS,
  EPISODE_STARTS,
  FIRST_PERSON_OPENINGS,
  HAPPY_ENDINGS,
  NEUTRAL_ENDINGS,
  OBJECTS,
  OPENINGS,
  PETS,
  SAD_ENDINGS,
  SETTINGS,
  STORY_CLOSERS,
  TRANSITIONS,
} from './story-phrases.js';

export type Mood = 'happy' | 'sad';
export type StoryLength = 'short' | 'medium' | 'long';

export interface StoryPlan {
  /** 1-3 concept ids; a happy or sad mood adds the matching feeling concept when it is missing */
  concepts: readonly string[];
  mood?: Mood;
  length: StoryLength;
  /** the hero, when the request names one */
  hero?: Character;
}

export interface StoryTemplate {
  id: string;
  /** told by the hero ("I", "my"); the concept lines' {hero} slots then read "I" */
  firstPerson?: boolean;
  /** paragraphs of raw sentences, filled and joined by StoryContext.finish */
  make(s: StoryContext): string[][];
}

/** Extra concept lines per weave() call after the first, by length. */
const EXTRA_LINES: Record<StoryLength, number> = { short: 0, medium: 1, long: 3 };

export class StoryContext {
  readonly hero: Character;
  readonly friend: Character;
  readonly concepts: readonly Concept[];
  readonly mood: Mood | undefined;
  readonly length: StoryLength;
  private readonly heroPronouns: Pronouns;
  private readonly friendPronouns: Pronouns;
  private readonly props: Record<string, string>;
  private readonly usedLines = new Set<string>();
  private weaveCalls = 0;
  private conceptCursor = 0;
  private thingCursor = 0;

  constructor(
    readonly rng: Rng,
    plan: StoryPlan,
    readonly firstPerson = false,
  ) {
    this.mood = plan.mood;
    this.length = plan.length;
    const ids = [...plan.concepts];
    if (plan.mood && !ids.includes(plan.mood)) ids.push(plan.mood);
    this.concepts = ids.map(getConcept);
    this.hero = plan.hero ?? randomCharacter(rng);
    this.friend = randomCharacter(rng, [this.hero.name]);
    this.heroPronouns = firstPerson ? FIRST_PERSON : pronouns(this.hero.gender);
    this.friendPronouns = pronouns(this.friend.gender);
    const objectName = rng.pick(OBJECTS);
    this.props = {
      place: rng.pick(SETTINGS),
      object: `${/^[aeiou]/.test(objectName) ? 'an' : 'a'} ${objectName}`,
      theobject: `the ${objectName}`,
      objectname: objectName,
      pet: rng.pick(PETS),
      elder: rng.pick(ELDERS),
    };
  }

  pick(options: readonly string[]): string {
    return this.rng.pick(options);
  }

  chance(p: number): boolean {
    return this.rng.chance(p);
  }

  /** A sentence about `concept` (by default the next in turn) that this story has not used yet, if any is left. */
  line(concept?: Concept): string {
    const c = concept ?? this.nextConcept();
    const lines = conceptText(c.id).lines;
    const fresh = lines.filter((l) => !this.usedLines.has(l));
    const chosen = this.rng.pick(fresh.length ? fresh : lines);
    this.usedLines.add(chosen);
    return chosen;
  }

  /**
   * The concept sentences for one slot of a template. The first call covers every concept once; later calls
   * add more by length (none for short stories), so a template's slots decide where the concepts show up.
   */
  weave(): string[] {
    const out: string[] = [];
    if (this.weaveCalls++ === 0) for (const c of this.rng.shuffle(this.concepts)) out.push(this.line(c));
    for (let i = 0; i < EXTRA_LINES[this.length]; i++) out.push(this.line());
    return out;
  }

  /** A noun phrase for one of the concepts, in turn, e.g. "a little boat". */
  thing(concept?: Concept): string {
    const c = concept ?? this.concepts[this.thingCursor++ % this.concepts.length]!;
    return this.rng.pick(conceptText(c.id).things);
  }

  opening(): string {
    return this.pick(this.firstPerson ? FIRST_PERSON_OPENINGS : OPENINGS);
  }

  transition(): string {
    return this.pick(TRANSITIONS);
  }

  ending(): string {
    const endings = this.mood === 'happy' ? HAPPY_ENDINGS : this.mood === 'sad' ? SAD_ENDINGS : NEUTRAL_ENDINGS;
    return this.pick(endings);
  }

  /** The extra middle paragraph of a long story. */
  episode(): string[] {
    return [this.pick(EPISODE_STARTS), this.line(), this.line(), this.line()];
  }

  /** Dialogue, either way round: `"Look!" said Mia.` / `"Come here," said Mia.` / `Mia said, "Come here."` */
  quote(who: string, text: string, verb = 'said'): string {
    const question = /[?!]$/.test(text);
    const bare = text.replace(/[.,]$/, '');
    if (this.chance(0.6)) return `"${question ? text : bare + ','}" ${verb} ${who}.`;
    return `${who} ${verb}, "${question ? text : bare + '.'}"`;
  }

  private nextConcept(): Concept {
    return this.concepts[this.conceptCursor++ % this.concepts.length]!;
  }

  /** Fills the slots and [a|b] choices of one sentence. */
  fill(sentence: string): string {
    const chosen = sentence.replace(/\[([^[\]]*\|[^[\]]*)\]/g, (_, body: string) => this.rng.pick(body.split('|')));
    return chosen.replace(/\{(\w+)\}/g, (match, slot: string) => {
      const value = this.slot(slot);
      if (value === undefined) throw new Error(`story: unknown slot ${match} in "${sentence}"`);
      return value;
    });
  }

  private slot(name: string): string | undefined {
    if (/^[A-Z]/.test(name)) {
      const value = this.slot(name[0]!.toLowerCase() + name.slice(1));
      return value === undefined ? undefined : capitalise(value);
    }
    const hero = this.heroPronouns;
    const friend = this.friendPronouns;
    switch (name) {
      case 'name': return this.hero.name;
      case 'hero': return this.firstPerson ? 'I' : this.hero.name;
      case 'heroobj': return this.firstPerson ? 'me' : this.hero.name;
      case 'heros': return this.firstPerson ? 'my' : `${this.hero.name}'s`;
      case 'desc': return this.hero.description;
      case 'he': return hero.subject;
      case 'him': return hero.object;
      case 'his': return hero.possessive;
      case 'himself': return hero.reflexive;
      case 'friend': return this.friend.name;
      case 'fdesc': return this.friend.description;
      case 'fhe': return friend.subject;
      case 'fhim': return friend.object;
      case 'fhis': return friend.possessive;
      case 'thing': return this.fill(this.thing());
      default: return this.props[name];
    }
  }

  /**
   * Fills and joins the paragraphs; a short story becomes one paragraph, a long one gets an extra episode.
   * Any concept the template left out gets a sentence, so the story always mentions all of its concepts.
   */
  finish(paragraphs: readonly (readonly string[])[]): string {
    const raw = paragraphs.map((p) => [...p]).filter((p) => p.length > 0);
    if (this.length === 'long' && raw.length >= 2) raw.splice(raw.length - 1, 0, this.episode());
    let filled = raw.map((p) => p.map((s) => capitaliseSentence(this.fill(s))));
    const middle = filled[Math.min(1, filled.length - 1)]!;
    for (const c of this.concepts) {
      if (!filled.some((p) => p.some((s) => mentionsConcept(s, c.id)))) middle.push(capitaliseSentence(this.fill(this.line(c))));
    }
    if (this.length === 'short') filled = [filled.flat()];
    const last = filled[filled.length - 1]!;
    const signed = !/[.!?"]$/.test(last[last.length - 1]!);
    if (!signed && this.chance(0.1)) last.push(this.pick(STORY_CLOSERS));
    return filled.map((p, i) => joinSentences(p, i === 0, signed && i === filled.length - 1)).join('\n\n');
  }
}

/**
 * Sentences joined by spaces, except that a salutation ("Dear diary,") at the start of the story and a
 * signature at its end keep lines of their own, also when a short story runs all its paragraphs together.
 */
function joinSentences(sentences: readonly string[], first: boolean, signed: boolean): string {
  let text = '';
  const last = sentences.length - 1;
  sentences.forEach((sentence, i) => {
    const salutation = first && i === 1 && sentences[0]!.endsWith(',');
    const signature = signed && (i === last || (i === last - 1 && sentence.endsWith(','))); // "Love,\nMia"
    if (i > 0) text += salutation || signature ? '\n' : ' ';
    text += sentence;
  });
  return text;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Upper-cases the first letter, also behind an opening quote. */
function capitaliseSentence(sentence: string): string {
  return sentence.replace(/^("?)([a-z])/, (_, quote: string, letter: string) => quote + letter.toUpperCase());
}
