/**
 * Story templates from everyday life: a day, a move, a market, a festival, a quarrel. Each returns paragraphs
 * of raw sentences; s.weave() marks where the concepts enter (see StoryContext).
 */
import type { StoryTemplate } from './story-context.js';

export const EVERYDAY_TEMPLATES: StoryTemplate[] = [
  {
    id: 'a-day-in-the-life',
    make: (s) => [
      ['{heros} day began like any other.', ...s.weave()],
      ['In the afternoon, {hero} [went out|visited {friend}|went for a walk].', ...s.weave()],
      ['In the evening, {hero} [thought about everything|wrote about the day in {his} notebook|told {elder} about the day].', s.ending()],
    ],
  },
  {
    id: 'the-contest',
    make: (s) => [
      [s.opening(), 'There was a contest in {place}, and the prize was {object}.'],
      ['Everyone had to [make|draw|bring] something about {thing}.', '{hero} worked hard [for days|all week|every evening].', ...s.weave()],
      ['On the big day, the judges looked at everything.',
        '[{hero} won the prize|{friend} won, and {hero} came second|The prize went to {friend} and {hero} together].', s.ending()],
    ],
  },
  {
    id: 'the-surprise',
    make: (s) => [
      ['{friend} wanted to surprise {hero}.', '{Fhe} planned everything [in secret|for weeks|very carefully].'],
      ['When {hero} came home, {friend} said, "Close your eyes!"', ...s.weave()],
      ['Then {hero} opened {his} eyes and saw {thing}.', s.quote('{hero}', 'What a surprise!'), s.ending()],
    ],
  },
  {
    id: 'saying-sorry',
    make: (s) => [
      ['{hero} made a mistake.', "{He} [broke|lost|forgot to give back] {friend}'s {objectname}."],
      ['{hero} did not know what to say.', ...s.weave()],
      ['At last, {hero} went to {friend} and said, "I am sorry."', s.quote('{friend}', 'It is all right'), s.ending()],
    ],
  },
  {
    id: 'learning-a-skill',
    make: (s) => [
      ['{hero} wanted to learn to [swim|ride a bike|draw|knit|juggle|skate].', 'At first, it was very hard.', ...s.weave()],
      ['{friend} showed {him} how, step by step.', '{hero} practised every day.', ...s.weave()],
      ['At last, {hero} could do it all by {himself}.', s.ending()],
    ],
  },
  {
    id: 'a-new-home',
    make: (s) => [
      ['{heros} family moved to a new house in {place}.', 'Everything was different.'],
      ['{hero} went out to look around.', ...s.weave()],
      ['Before long, the new house felt like home.', s.ending()],
    ],
  },
  {
    id: 'a-strange-dream',
    make: (s) => [
      ['One evening, {hero} had a strange dream.',
        'In the dream, {he} [was flying over the hills|could talk to animals|was very, very small|lived inside a picture book].'],
      [...s.weave()],
      ['Then {hero} opened {his} eyes.', 'It had all been a dream, but {he} remembered every part of it.', s.ending()],
    ],
  },
  {
    id: 'two-ideas',
    make: (s) => [
      ['{friend} and {hero} could not agree.', '{hero} wanted to see {thing}, but {friend} wanted to see {thing}.'],
      [s.quote('{friend}', 'My idea is better!'), s.quote('{hero}', 'No, mine is!'), ...s.weave()],
      ['In the end, they decided to do both.', s.ending()],
    ],
  },
  {
    id: 'staying-inside',
    make: (s) => [
      ['{hero} had to stay inside all day.', '{He} looked out of the window [again and again|and waited|for a long time].'],
      ['To pass the time, {hero} [drew pictures|built a fort of pillows|read an old book|played with {object}].', ...s.weave()],
      ['By the end of the day, {hero} did not mind staying inside at all.', s.ending()],
    ],
  },
  {
    id: 'market-day',
    make: (s) => [
      ['Every Saturday, there was a market in {place}.', '{hero} went there with {elder}.'],
      ['The market was full of [stalls|people|noise and colors].', ...s.weave(), '{elder} bought {object}.'],
      ['They walked home with full bags.', s.ending()],
    ],
  },
  {
    id: 'the-festival',
    make: (s) => [
      ['Once a year, {place} had a big festival.', 'There were flags, games and lights everywhere.'],
      ['This year, the festival was all about {thing}.', ...s.weave()],
      ['When the festival was over, {friend} and {hero} [walked home slowly|talked about it for days|could not wait for next year].', s.ending()],
    ],
  },
  {
    id: 'a-birthday',
    make: (s) => [
      ['It was {heros} birthday, and {he} was [seven|eight|nine|ten] years old.', 'Everyone came to the party.'],
      ['{friend} brought [a book about {thing}|a drawing of {thing}].', ...s.weave()],
      ['At the end of the party, {hero} thanked everyone for coming.', s.ending()],
    ],
  },
  {
    id: 'a-picnic',
    make: (s) => [
      ['{friend} and {hero} packed a basket and went on a picnic.', 'They found a nice spot [by the river|on top of a hill|under a big tree].'],
      [...s.weave()],
      ['When it was time to go, they packed up everything and walked home.', s.ending()],
    ],
  },
  {
    id: 'swapping-places',
    make: (s) => [
      ['{friend} and {hero} decided to swap places for a day.', "{hero} did {friend}'s jobs, and {friend} did {heros} jobs."],
      [...s.weave(), 'It was harder than they thought.'],
      ['By evening, they were ready to swap back.', s.ending()],
    ],
  },
  {
    id: 'the-machine',
    make: (s) => [
      ['{hero} loved to make machines.', '{He} built one out of {object}, some string and an old wheel.'],
      ['The machine [rattled|buzzed|clicked] and [shook|spun|hummed].', ...s.weave()],
      ['[It worked!|It did not work the first time, but the second time it did.]', s.ending()],
    ],
  },
  {
    id: 'the-seasons',
    make: (s) => [
      ['In spring, {hero} met {friend}.', 'In summer, they [swam in the river|played outside all day|went on long walks].', ...s.weave()],
      ['In autumn, they [collected nuts|raked the yard|went back to their books].', ...s.weave()],
      ['By the end of the year, they had shared so much.', s.ending()],
    ],
  },
  {
    id: 'helping-a-friend',
    make: (s) => [
      ['{friend} had a problem.', '{Fhe} could not [find the way home|finish {fhis} work|reach the top shelf|carry everything alone].'],
      [s.quote('{hero}', 'I will help you'), ...s.weave()],
      ['Together, they [solved it|did it|made it], and {friend} thanked {hero}.', s.ending()],
    ],
  },
  {
    id: 'a-quiet-walk',
    make: (s) => [
      ['{hero} went for a walk [on {his} own|with {friend}|with {pet}].', ...s.weave(), ...s.weave(), 'Everything was [calm|still|peaceful].'],
      ['{hero} walked slowly and looked at everything.', s.ending()],
    ],
  },
  {
    id: 'the-missing-pet',
    make: (s) => [
      ['{hero} had a pet, {pet}.', 'One day, the pet was gone!'],
      ['{friend} and {hero} looked everywhere.', ...s.weave()],
      ['At last, they found it [hiding behind a bucket|sitting on the doorstep|under the porch].', s.ending()],
    ],
  },
  {
    id: 'do-you-remember',
    make: (s) => [
      ['Many years later, {friend} and {hero} sat together and talked about the old days.'],
      [s.quote('{friend}', 'Do you remember {thing}?', 'asked'), s.quote('{hero}', 'Of course I do'), ...s.weave()],
      ['They talked until it was late.', s.ending()],
    ],
  },
];
