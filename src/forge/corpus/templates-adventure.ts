/**
 * Story templates with a quest shape: someone sets out, looks for something or someone, and comes back.
 * Each returns paragraphs of raw sentences; s.weave() marks where the concepts enter (see StoryContext).
 */
import type { StoryTemplate } from './story-context.js';

export const ADVENTURE_TEMPLATES: StoryTemplate[] = [
  {
    id: 'once-upon-a-time',
    make: (s) => [
      [s.opening(), ...s.weave()],
      [`${s.transition()} {hero} [decided|wanted] to [go on an adventure|see something new|find out what was beyond the hills].`, ...s.weave(),
        s.quote('{friend}', '[What a day|Look at that|I have never seen anything like it]!')],
      [s.ending()],
    ],
  },
  {
    id: 'lost-object',
    make: (s) => [
      [s.opening(), '{hero} had {object} that {he} carried everywhere.'],
      ['[One day|One afternoon|One evening], {hero} could not find {theobject}.', '{He} looked under the bed, behind the door and in every pocket.',
        ...s.weave(), s.quote('{friend}', 'Did you look [outside|by the gate|in the yard]?', 'asked')],
      ['At last, {hero} found {theobject} [right where {he} had left it|under a pile of old coats|in {friend}\'s bag].', s.ending()],
    ],
  },
  {
    id: 'old-map',
    make: (s) => [
      ['{hero} found an old map in the attic.', 'The map showed a path to a hidden box [beyond the hills|behind an old wall|past the river].'],
      ['{friend} and {hero} set off [at once|the next day|after lunch].', ...s.weave(), 'They followed the map [step by step|carefully|without stopping].'],
      ['At the end of the path, they found the box.',
        'Inside was [a letter from long ago|a little golden key|a drawing of {thing}|a note that said: Well done!]', s.ending()],
    ],
  },
  {
    id: 'visit-an-elder',
    make: (s) => [
      [s.opening(), '{hero} was going to visit {elder}, who lived [far away|on the other side of the hills|in another town].'],
      ['On the way, {hero} saw many things.', ...s.weave()],
      ['When {hero} arrived, {elder} gave {him} a big hug.', s.quote('{elder}', 'Tell me everything you saw'),
        'So {hero} told {elder} all about {thing}.', s.ending()],
    ],
  },
  {
    id: 'lost-on-the-way',
    make: (s) => [
      ['{friend} and {hero} went out to explore.', ...s.weave()],
      ['[Before long|After a while|Soon], they [did not know where they were|had lost the path|could not find the way back].',
        s.quote('{friend}', 'Which way is home?', 'asked'), ...s.weave()],
      ['Then {hero} remembered {thing}, and {he} knew the way back.', 'They walked home [together|side by side|as fast as they could].', s.ending()],
    ],
  },
  {
    id: 'helping-a-stranger',
    make: (s) => [
      [s.opening(), 'One day, {hero} met [an old traveller|a man with a long coat|a woman with a heavy bag] on the road.'],
      [s.quote('the stranger', 'Can you help me?', 'asked'), '{hero} [nodded|said yes at once|did not think twice].', ...s.weave()],
      ['[When they were done|At the end of the day], the stranger gave {hero} {object} as a thank-you.', s.ending()],
    ],
  },
  {
    id: 'explorer',
    make: (s) => [
      ['{hero} wanted to be an explorer.', 'Every day, {he} packed a bag with {object}, a drink and a notebook.'],
      ['One day, {hero} explored [the land beyond the hill|a place nobody had visited in years|every corner of {place}].', ...s.weave(),
        '{He} wrote everything down in {his} notebook.'],
      ['When {he} came home, the notebook was full.', s.ending()],
    ],
  },
  {
    id: 'the-race',
    make: (s) => [
      [s.opening(), 'Every year, there was a big race, and {hero} wanted to win it.'],
      ['On the day of the race, {hero} stood at the start line next to {friend}.', '"Ready, set, go!"', ...s.weave()],
      ['[{hero} crossed the finish line first|{friend} won, but {hero} came a close second|They crossed the finish line together].', s.ending()],
    ],
  },
  {
    id: 'fixing-something',
    make: (s) => [
      ['{heros} {objectname} was broken.', '{He} wanted to fix it, but {he} did not know how.'],
      ['{hero} asked {friend} for help.', s.quote('{friend}', 'Let me [see|take a look|think]'), ...s.weave(),
        'Together they worked [all afternoon|for hours|until supper].'],
      ['At last, the {objectname} worked again.', s.ending()],
    ],
  },
  {
    id: 'knock-at-the-door',
    make: (s) => [
      ['[One afternoon|One evening|Late one day], there was a knock at the door.'],
      ['It was {friend}, [with a big bag|out of breath|all in a hurry].', s.quote('{friend}', 'You will never guess what I saw today!'), ...s.weave()],
      ['{hero} listened to every word.', s.ending()],
    ],
  },
  {
    id: 'a-secret',
    make: (s) => [
      ['{friend} had a secret.', s.quote('{friend}', 'Can you keep a secret?', 'whispered'), '{hero} promised to keep it.'],
      ['So {friend} told {him} about {thing}.', ...s.weave()],
      ['{hero} kept the secret for a long time.', s.ending()],
    ],
  },
  {
    id: 'new-friend',
    make: (s) => [
      [s.opening(), '{hero} did not know anyone in {place}.'],
      ['[One day|One afternoon|On the first day], {hero} met {fdesc} named {friend}.', s.quote('{friend}', 'Do you want to play?', 'asked'), ...s.weave()],
      ['After that, {friend} and {hero} met every day.', s.ending()],
    ],
  },
  {
    id: 'three-tries',
    make: (s) => [
      [s.opening(), '{hero} wanted to [make a kite|reach the top shelf|catch the ball|jump over the little creek].'],
      ['The first time, {he} tried and failed.', 'The second time, {he} tried and failed again.', ...s.weave()],
      ['The third time, {hero} tried [once more|with all {his} might|very slowly], and it worked!', s.quote('{friend}', 'I knew you could do it!'), s.ending()],
    ],
  },
  {
    id: 'misunderstanding',
    make: (s) => [
      ['{friend} asked {hero} to bring a picture of {thing}.', 'But {hero} thought {friend} had asked for something else.'],
      ['So {hero} brought {object} instead.', ...s.weave(), '{friend} looked at {theobject} and then at {hero}.'],
      [s.quote('{friend}', 'That is not what I meant'), 'Then they both understood.', s.ending()],
    ],
  },
  {
    id: 'elder-remembers',
    make: (s) => [
      ['{elder} liked to tell stories about the old days.', 'One evening, {hero} sat down to listen.'],
      [s.quote('{elder}', 'When I was young, I saw {thing}'), ...s.weave()],
      ['{hero} listened until the very end.', s.quote('{hero}', 'Tell me another one!'), s.ending()],
    ],
  },
  {
    id: 'the-gift',
    make: (s) => [
      ["It was {friend}'s birthday, and {hero} wanted to give {fhim} something special."],
      ['{hero} thought about it for a long time.', ...s.weave(), 'In the end, {he} chose [a picture of {thing}|a book about {thing}|a card with {thing} on it].'],
      ['{friend} opened the gift [slowly|at once|with a gasp].', s.quote('{friend}', 'It is perfect!'), s.ending()],
    ],
  },
  {
    id: 'a-promise',
    make: (s) => [
      [s.opening(), '{hero} promised {friend} to come back before [supper|the end of the week|the end of summer].'],
      ['[But the way back was long|But many things happened on the way].', ...s.weave()],
      ['{hero} kept {his} promise and came back just in time.', s.ending()],
    ],
  },
  {
    id: 'change-of-plans',
    make: (s) => [
      ['{friend} and {hero} had a plan for the day.', 'They wanted to [play outside|go to the river|visit the hill|paint a big picture].'],
      ['But things did not go as planned.', ...s.weave(), s.quote('{friend}', 'What do we do now?', 'asked')],
      ['{hero} thought for a moment.', s.quote('{hero}', 'We will do something new'), 'And they did.', s.ending()],
    ],
  },
  {
    id: 'a-wish',
    make: (s) => [
      [s.opening(), '{hero} had one wish: to see {thing}.'],
      ['{hero} closed {his} eyes and made the wish.', ...s.weave()],
      ['When {he} opened {his} eyes, the wish had come true.', s.ending()],
    ],
  },
  {
    id: 'the-collection',
    make: (s) => [
      ['{hero} loved to collect things.', '{He} had boxes of [stones|buttons|stamps|coins] and {object}.'],
      ['One day, {hero} wanted to add something new to {his} collection.', ...s.weave(), '{He} chose a picture of {thing}.'],
      ['{hero} put it on the shelf with the rest.', s.ending()],
    ],
  },
];
