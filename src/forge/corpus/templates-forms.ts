/**
 * Story templates with an unusual form: diaries and letters in the first person, a news report, a fable with a
 * moral, a riddle, counting, a story told by someone in the story, a story that is mostly dialogue, a
 * three-sentence story. The shapes differ on purpose, so a model trained on them learns to tell a story about
 * a concept in many ways rather than to fill in one frame.
 */
import type { StoryTemplate } from './story-context.js';

const RIDDLES: ReadonlyArray<readonly [question: string, answer: string]> = [
  ['What has hands but cannot clap?', 'A clock!'],
  ['What has a neck but no head?', 'A bottle!'],
  ['What gets bigger the more you take away from it?', 'A hole!'],
  ['What has many keys but cannot open a single door?', 'A keyboard!'],
  ['What can you catch but not throw?', 'A cold!'],
];

const MORALS = ['slow and steady wins the race', 'listen to your friends', 'look before you leap', 'share what you have',
  'a friend in need is a friend indeed', 'never give up'];

export const FORM_TEMPLATES: StoryTemplate[] = [
  {
    id: 'dear-diary',
    firstPerson: true,
    make: (s) => [
      ['Dear diary,'],
      ['Today was [a strange|a long|an interesting|a busy] day.', ...s.weave()],
      [...s.weave(), s.ending()],
      ['I will write more tomorrow.', '{name}'],
    ],
  },
  {
    id: 'a-letter',
    firstPerson: true,
    make: (s) => [
      ['Dear {elder},'],
      ['I hope you are well.', 'I want to tell you about [my week|something that happened|my trip to the hills].', ...s.weave()],
      [...s.weave(), 'I wish you could have been there.', s.ending()],
      ['Love,', '{name}'],
    ],
  },
  {
    id: 'my-name-is',
    firstPerson: true,
    make: (s) => [
      [s.opening(), 'I want to tell you about {thing}.'],
      [...s.weave(), ...s.weave()],
      ['That is my story.', s.ending()],
    ],
  },
  {
    id: 'what-i-saw',
    firstPerson: true,
    make: (s) => [
      ['My name is {name}, and I will never forget the day I saw {thing}.', 'I was with {friend}, and we were on our way home.'],
      [...s.weave()],
      [s.quote('{friend}', 'Did that really happen?', 'asked'), 'It did.', s.ending()],
    ],
  },
  {
    id: 'news-report',
    make: (s) => [
      ['Today in {place}, something unusual happened.', ...s.weave()],
      ['People came from all around to see.', s.quote('{friend}', 'I have never seen anything like it'), ...s.weave()],
      ['{desc} named {hero} was there from the start.', s.ending()],
    ],
  },
  {
    id: 'hide-and-seek',
    make: (s) => [
      ['{hero} was playing hide and seek with {friend}.', '{hero} closed {his} eyes and counted: one, two, three, four, five, six, seven, eight, nine, ten!'],
      ['Then {he} went to look.', ...s.weave()],
      ['At last, {hero} found {friend} [behind the door|under the stairs|behind a big stone].', s.ending()],
    ],
  },
  {
    id: 'first-then-finally',
    make: (s) => [
      [s.opening()],
      ['First, {hero} went to see {thing}.', ...s.weave(), 'Then {he} went on.', ...s.weave()],
      ['Finally, {hero} came home.', s.ending()],
    ],
  },
  {
    id: 'story-spine',
    make: (s) => [
      ['Every day, {hero} [walked to the river|fed {pet}|went to see {elder}|played with {object}].'],
      ['But one day, something changed.', ...s.weave()],
      ['Because of that, {hero} [had to find a new way|made a new friend|learned something new].', ...s.weave()],
      ['Until finally, everything was all right again.', s.ending()],
    ],
  },
  {
    id: 'fable-with-a-moral',
    make: (s) => [
      ['Once, {hero} [thought {he} knew everything|did not want to listen to anyone|was always in a great hurry].', ...s.weave()],
      ['But {friend} [was wise|was careful|took {fhis} time].', ...s.weave()],
      ['In the end, {hero} understood.', s.ending(), `The moral of the story: ${s.pick(MORALS)}.`],
    ],
  },
  {
    id: 'three-sentences',
    make: (s) => [[s.opening(), ...s.weave(), s.ending()]],
  },
  {
    id: 'so-many-questions',
    make: (s) => [
      ['{hero} was full of questions.', s.quote('{hero}', 'Why is the grass green?', 'asked'), s.quote('{elder}', 'Because it likes the light')],
      [s.quote('{hero}', 'What is {thing} like?', 'asked'), '{elder} told {him}.', ...s.weave()],
      ['{hero} had many more questions, but it was time for bed.', s.ending()],
    ],
  },
  {
    id: 'asking-for-help',
    make: (s) => [
      ['{hero} needed help to [find {object}|carry a heavy box|fix a wheel].'],
      ['{He} asked {friend}, but {friend} was busy.', '{He} asked {elder}, but {elder} was busy too.', ...s.weave()],
      ['At last, {friend} and {elder} came, and they did it together.', s.ending()],
    ],
  },
  {
    id: 'a-riddle',
    make: (s) => {
      const [question, answer] = s.rng.pick(RIDDLES);
      return [
        [s.quote('{friend}', 'I have a riddle for you'), s.quote('{friend}', question, 'asked')],
        ['{hero} thought and thought.', ...s.weave()],
        [s.quote('{hero}', answer), s.quote('{friend}', 'That is right!'), s.ending()],
      ];
    },
  },
  {
    id: 'note-in-a-bottle',
    make: (s) => [
      ['{hero} found a bottle by the river.', 'Inside was a note.'],
      ['The note said: [Whoever finds this, please write back|Hello from far away|I hope you have a good day].', ...s.weave()],
      ['{hero} wrote a note of {his} own and put it in the bottle.', s.ending()],
    ],
  },
  {
    id: 'three-favourite-things',
    make: (s) => [
      ['{hero} had three favorite things.', 'The first was {thing}.', 'The second was {thing}.', 'The third was {object}.'],
      [...s.weave()],
      [s.ending()],
    ],
  },
  {
    id: 'mostly-dialogue',
    make: (s) => [
      [s.quote('{friend}', 'Where are you going?', 'asked'), s.quote('{hero}', 'I am going to see {thing}'),
        s.quote('{friend}', 'Can I come too?', 'asked'), s.quote('{hero}', 'Of course')],
      [...s.weave()],
      [s.quote('{friend}', 'That was the best day ever'), s.ending()],
    ],
  },
  {
    id: 'a-quiet-scene',
    make: (s) => [
      ['It was a [quiet|warm|cool|bright] day in {place}.', ...s.weave()],
      ['{hero} sat [on the steps|by the window|on a bench] and watched.', ...s.weave(), s.ending()],
    ],
  },
  {
    id: 'a-story-before-bed',
    make: (s) => [
      ['Before bed, {hero} asked {elder} for a story.', s.quote('{elder}', 'Once, long ago, there was {thing}')],
      [...s.weave()],
      ['And that was the story {elder} told.', s.ending()],
    ],
  },
];
