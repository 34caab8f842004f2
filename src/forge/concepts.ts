/**
 * The forge's concept inventory: the things its stories are about, each with the words that give it away.
 *
 * The word lists are the project's measuring stick: "the answer is about the ocean" means `mentionsConcept(answer,
 * 'ocean')`, so every word belongs to exactly one concept (a test checks that no list matches another's words),
 * and the story generator keeps its connecting text free of all of them (a test checks that each story mentions
 * exactly the concepts it was built from). Words that many concepts would share ("tree", "water", "sky") are
 * deliberately left out of every list, so stories may use them freely.
 */

export type ConceptKind =
  | 'animal'
  | 'creature'
  | 'place'
  | 'weather'
  | 'colour'
  | 'food'
  | 'feeling'
  | 'job'
  | 'object'
  | 'time'
  | 'nature';

export interface Concept {
  id: string;
  kind: ConceptKind;
  /** display name, reads after "a"/"the": "a dragon", "the ocean" */
  name: string;
  /** how a request names it after "about": the first is the usual one; each holds one of `words` */
  topics: readonly string[];
  /** 8-15 simple words that belong to this concept and to no other (matched with an optional plural "s") */
  words: readonly string[];
}

const concept = (id: string, kind: ConceptKind, topics: string[], words: string): Concept => ({
  id,
  kind,
  name: id,
  topics,
  words: words.trim().split(/\s+/),
});

export const CONCEPTS: readonly Concept[] = [
  concept('dog', 'animal', ['a dog', 'a puppy', 'the dog'], 'dog doggy puppy bark barked woof leash collar kennel fetch fetched wagged bone'),
  concept('cat', 'animal', ['a cat', 'a kitten', 'the cat'], 'cat kitten kitty meow meowed purr purred whiskers yarn tabby catnip mouse'),
  concept('bird', 'animal', ['a bird', 'a little bird', 'the bird'], 'bird nest feather wing beak chirp chirped sparrow robin tweet hatch hatched'),
  concept('horse', 'animal', ['a horse', 'a pony', 'the horse'], 'horse pony saddle gallop galloped hooves mane neigh neighed stable foal trot trotted'),
  concept('dragon', 'creature', ['a dragon', 'the dragon', 'dragons'], 'dragon scales claws roar roared flame fire smoke cave treasure fang lair hoard'),
  concept('ocean', 'place', ['the ocean', 'the sea', 'a boat'], 'ocean sea wave boat shore salt fish sail sailed tide beach shell seagull ship'),
  concept('forest', 'place', ['the forest', 'the woods', 'a forest'], 'forest woods oak pine branch moss acorn mushroom squirrel deer fern twig leaf leaves'),
  concept('castle', 'place', ['a castle', 'the castle', 'a princess'], 'castle tower king queen prince princess throne crown knight moat drawbridge royal palace'),
  concept('mountain', 'place', ['a mountain', 'the mountains'], 'mountain peak cliff climb climbed climbing summit valley ridge boulder slope goat'),
  concept('city', 'place', ['the city', 'a big city'], 'city street bus taxi traffic sidewalk skyscraper crowd crowded apartment subway downtown honk honked'),
  concept('space', 'place', ['space', 'a rocket', 'an astronaut'], 'space rocket planet astronaut star comet galaxy orbit moon alien spaceship launch telescope'),
  concept('rain', 'weather', ['the rain', 'a rainy day', 'rain'], 'rain rained raining rainy raindrop puddle umbrella drizzle raincoat soggy drip dripped downpour wet'),
  concept('snow', 'weather', ['snow', 'a snowy day', 'a snowman'], 'snow snowy snowman snowflake snowball frost frozen ice icy sled mitten scarf winter'),
  concept('storm', 'weather', ['a storm', 'a stormy day', 'the storm'], 'storm stormy thunder lightning gale gust hail tornado windy wind howling rumble rumbled'),
  concept('red', 'colour', ['the color red', 'something red'], 'red redder scarlet crimson ruby rosy poppy ladybug cherry strawberry blush blushed'),
  concept('blue', 'colour', ['the color blue', 'something blue'], 'blue bluer navy azure sapphire indigo cobalt turquoise bluebell blueberry teal'),
  concept('purple', 'colour', ['the color purple', 'something purple'], 'purple violet lavender lilac plum mauve amethyst grape orchid magenta'),
  concept('bread', 'food', ['bread', 'a loaf of bread'], 'bread loaf loaves crust toast toasted butter sandwich crumb slice jam'),
  concept('apple', 'food', ['an apple', 'apples'], 'apple orchard cider juicy crunchy crunch peel peeled applesauce pie bushel'),
  concept('soup', 'food', ['soup', 'a bowl of soup'], 'soup bowl spoon broth stew ladle carrot onion simmer simmered noodle potato celery'),
  concept('happy', 'feeling', ['being happy', 'joy', 'a happy day'], 'happy happily happiness glad joy joyful smile smiled laugh laughed cheer cheerful grin grinned delight'),
  concept('sad', 'feeling', ['being sad', 'sadness', 'a sad day'], 'sad sadly sadness tear cry cried crying sobbed gloomy lonely sorrow wept sigh sighed unhappy'),
  concept('afraid', 'feeling', ['being afraid', 'fear', 'being scared'], 'afraid scared scary fear frightened terrified trembled trembling nervous nervously panic worried worry'),
  concept('baker', 'job', ['a baker', 'the baker'], 'baker bakery bake baked baking oven flour dough apron pastry muffin cookie cupcake'),
  concept('doctor', 'job', ['a doctor', 'the doctor', 'a nurse'], 'doctor nurse medicine hospital fever bandage patient cough sick clinic pill stethoscope healthy heal'),
  concept('teacher', 'job', ['a teacher', 'the teacher', 'school'], 'teacher school classroom lesson student chalk chalkboard homework desk recess class'),
  concept('farmer', 'job', ['a farmer', 'a farm', 'the farmer'], 'farmer farm barn tractor hay field cow pig hen plow crop harvest wheat sheep'),
  concept('music', 'object', ['music', 'a song'], 'music song sing sang singing melody piano drum guitar violin flute tune dance danced'),
  concept('train', 'object', ['a train', 'the train', 'a train ride'], 'train station track rails ticket whistle carriage platform conductor locomotive railway caboose'),
  concept('night', 'time', ['the night', 'a night', 'bedtime'], 'night midnight dark darkness owl lantern bedtime candle shadow asleep sleep slept firefly'),
  concept('morning', 'time', ['the morning', 'a morning', 'sunrise'], 'morning sunrise dawn breakfast rooster woke yawn yawned sunshine sun alarm daybreak'),
  concept('garden', 'nature', ['a garden', 'flowers', 'the garden'], 'garden flower rose tulip daisy petal bloom bloomed seed soil weed sprout blossom'),
];

const BY_ID = new Map(CONCEPTS.map((c) => [c.id, c]));

export function getConcept(id: string): Concept {
  const found = BY_ID.get(id);
  if (!found) throw new Error(`unknown concept "${id}"`);
  return found;
}

export function conceptWords(id: string): readonly string[] {
  return getConcept(id).words;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One regex per concept: any of its words as a whole word, case-insensitive, with an optional plural "s". */
const MATCHERS = new Map(
  CONCEPTS.map((c) => [c.id, new RegExp(`\\b(?:${c.words.map(escapeRegExp).join('|')})s?\\b`, 'i')]),
);

/** Whether `text` uses any of the concept's words ("Dogs", "dog's" and "DOG" count; "dogma" and "hotdog" do not). */
export function mentionsConcept(text: string, id: string): boolean {
  const matcher = MATCHERS.get(id);
  if (!matcher) throw new Error(`unknown concept "${id}"`);
  return matcher.test(text);
}

/** The ids of every concept `text` mentions, in inventory order. */
export function mentionedConcepts(text: string): string[] {
  return CONCEPTS.filter((c) => MATCHERS.get(c.id)!.test(text)).map((c) => c.id);
}
