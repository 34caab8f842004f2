/** The /v1/compare measures and the prompted arm's message, without a model. */
import { describe, expect, it } from 'vitest';
import { klDivergence, mean, meanKl, meanOfPresent } from '../src/services/compare-measures.js';
import { defaultPromptTemplate, promptedMessages } from '../src/services/compare-prompt.js';

const logs = (...p: number[]) => Float32Array.from(p, Math.log);

describe('klDivergence', () => {
  it('is 0 for equal distributions and Σ p log(p/q) otherwise', () => {
    expect(klDivergence(logs(0.2, 0.3, 0.5), logs(0.2, 0.3, 0.5))).toBe(0);
    const expected = 0.5 * Math.log(0.5 / 0.9) + 0.5 * Math.log(0.5 / 0.1);
    expect(klDivergence(logs(0.5, 0.5), logs(0.9, 0.1))).toBeCloseTo(expected, 6);
    // asymmetric
    expect(klDivergence(logs(0.9, 0.1), logs(0.5, 0.5))).not.toBeCloseTo(expected, 3);
  });

  it('counts nothing for tokens the first distribution cannot produce', () => {
    expect(klDivergence(logs(1, 0), logs(0.5, 0.5))).toBeCloseTo(Math.log(2), 6);
  });

  it('rejects distributions of different sizes', () => {
    expect(() => klDivergence(logs(1), logs(0.5, 0.5))).toThrow(RangeError);
  });
});

describe('means', () => {
  it('meanKl averages the first positions both sides cover', () => {
    const a = [logs(0.5, 0.5), logs(1, 0), logs(0.5, 0.5)];
    const b = [logs(0.5, 0.5), logs(0.5, 0.5), logs(0.9, 0.1)];
    expect(meanKl(a, b, 2)).toBeCloseTo(Math.log(2) / 2, 6);
    expect(meanKl(a, b.slice(0, 1), 32)).toBe(0);
    expect(meanKl([], [], 32)).toBeNull();
  });

  it('mean and meanOfPresent skip nothing and nulls respectively', () => {
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNull();
    expect(meanOfPresent([1, null, 3])).toBe(2);
    expect(meanOfPresent([null])).toBeNull();
  });
});

describe('the prompted message', () => {
  it('appends the phrases as an instruction by default', () => {
    expect(defaultPromptTemplate('strong combinatorial reasoning')).toBe('{message} Make sure to use strong combinatorial reasoning.');
    expect(defaultPromptTemplate([{ phrase: 'a' }, { phrase: 'b', strength: 2 }, { phrase: 'c', strength: -1 }])).toBe(
      '{message} Make sure to use a and b. Make sure not to use c.',
    );
    expect(defaultPromptTemplate({ feature: 3 })).toBeNull();
    expect(defaultPromptTemplate([{ phrase: 'a' }, { vector: [1, 2] }])).toBeNull();
    expect(defaultPromptTemplate([])).toBeNull();
  });

  it('rewrites only the last user message, text parts joined', () => {
    const messages = [
      { role: 'system' as const, content: 'Be kind.' },
      { role: 'user' as const, content: 'Hi.' },
      { role: 'assistant' as const, content: 'Hello.' },
      { role: 'user' as const, content: [{ type: 'text' as const, text: 'Tell me' }, { type: 'text' as const, text: 'a story.' }] },
    ];
    const { messages: out, userMessage } = promptedMessages(messages, 'dragons', undefined);
    expect(userMessage).toBe('Tell me\na story. Make sure to use dragons.');
    expect(out.slice(0, 3)).toEqual(messages.slice(0, 3));
    expect(out[3]).toEqual({ role: 'user', content: userMessage });
  });

  it('fills {message} and {phrase} once, leaving braces inside them alone', () => {
    const { userMessage } = promptedMessages([{ role: 'user', content: 'say {phrase}' }], 'x {message}', '{phrase}: {message} {other}');
    expect(userMessage).toBe('x {message}: say {phrase} {other}');
  });
});
