/**
 * The connecting text every template shares: settings, props, openings, endings and episodes. None of it may
 * use a concept's words (tests/forge-corpus.test.ts checks every story), so that the concepts a story mentions
 * are exactly the ones it was built from: neutral endings stay free of feelings, and "the next day" stands in
 * for "the next morning".
 */

export const SETTINGS = [
  'a small town', 'a quiet village', 'a little house on a hill', 'a busy little town', 'a village by the river',
  'a house at the end of a long lane', 'a tiny cottage', 'a town with a clock in the square', 'a village near the hills',
];

/** generic props, without an article: a story keeps the one it picked ({object}, {theobject}, {objectname}) */
export const OBJECTS = [
  'old map', 'silver key', 'wooden box', 'paper kite', 'brass bell', 'small clock', 'striped sock', 'little notebook',
  'glass marble', 'toy car', 'green hat', 'copper coin', 'picture frame',
];

export const PETS = ['a turtle', 'a hamster', 'a lizard', 'a frog', 'a parrot', 'a tortoise named Bill'];

export const ELDERS = ['Grandma', 'Grandpa', 'Aunt May', 'Uncle Joe', 'Granny Ann', 'old Mr. Brown'];

export const OPENINGS = [
  'Once upon a time, there was {desc} named {name}.',
  'Once upon a time, in {place}, there lived {desc} called {name}.',
  'Long ago, {desc} named {name} lived in {place}.',
  'There once was {desc} named {name} who lived in {place}.',
  '{name} was {desc} who lived in {place}.',
  'Far away, in {place}, there lived {desc} named {name}.',
  'Not so long ago, in {place}, lived {desc} called {name}.',
  'This is the story of {desc} named {name}.',
  '{name} lived with {his} family in {place}.',
  'Everyone in {place} knew {name}.',
  'In {place}, there was {desc} named {name} who loved to explore.',
];

export const FIRST_PERSON_OPENINGS = [
  'My name is {name}, and I live in {place}.',
  'My name is {name}.',
  'I am {name}, and this is what happened to me.',
  'Hello! I am {name}, and I want to tell you about something that happened to me.',
];

export const TRANSITIONS = ['One day,', 'Then,', 'After a while,', 'Later that day,', 'The next day,', 'Soon,', 'Suddenly,', 'Before long,'];

export const NEUTRAL_ENDINGS = [
  'And that was the end of a very long day.',
  '{hero} would remember that day for a long time.',
  'From that day on, {friend} and {hero} were the best of friends.',
  '{hero} went home and told everyone what had happened.',
  'It had been quite a day.',
  'And so the day came to an end.',
  'After that, {hero} never forgot what {he} had learned.',
  '{friend} and {hero} walked home together, talking all the way.',
  'It was a day like no other.',
  'And {hero} knew that it would not be the last adventure.',
];

export const HAPPY_ENDINGS = [
  '{hero} smiled all the way home.',
  '{friend} and {hero} laughed together, full of joy.',
  'It was a happy day, and {hero} was glad it had happened.',
  'Everyone began to cheer, and {hero} grinned from ear to ear.',
  'And {hero} lived happily ever after.',
  '{hero} went to bed with a big smile on {his} face.',
];

export const SAD_ENDINGS = [
  '{hero} sighed and walked home alone.',
  'A tear rolled down {his} cheek as the day ended.',
  '{hero} felt sad, but {he} hoped that tomorrow would be better.',
  'It was a lonely walk home.',
  '{hero} never saw {friend} again, and {he} was unhappy for a long time.',
  'And {hero} cried quietly until the day was over.',
];

/** the extra middle paragraph of a long story: a start, then concept lines */
export const EPISODE_STARTS = [
  'Later, {friend} and {hero} went for a long walk.',
  'After lunch, {hero} went to look around.',
  'In the afternoon, something unexpected happened.',
  'Then {hero} had an idea.',
  'That afternoon, {friend} came to visit.',
  'On the way back, {hero} took a different path.',
  'A little later, {hero} sat down to rest and looked around.',
];

export const STORY_CLOSERS = ['The end.', 'The End.'];
