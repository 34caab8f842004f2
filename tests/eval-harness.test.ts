/**
 * The evaluation command end to end on the tiny random model with a tiny config: the report folder, its tables
 * and plots, and records that say what the sweep did (every arm, strength and prompt; baseline KL ~0; KL
 * growing with strength).
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvalArgs, runEvalCommand } from '../bench/eval/main.js';
import type { EvalRecord } from '../bench/eval/run-eval.js';
import { storyworldConfig } from '../bench/eval/storyworld.js';
import { testModelPath } from './helpers/test-models.js';

const CONFIG = {
  concepts: [
    { id: 'ocean', words: ['sea', 'ocean', 'wave'] },
    { id: 'vec', name: 'the direction', steer: { vector: Array.from({ length: 64 }, (_, i) => Math.cos(i)) }, words: ['the', 'a'] },
  ],
  prompts: ['Tell me a story.', 'Write about your day.'],
  strengths: [0.5, 4],
  max_tokens: 8,
  seed: 5,
};

let dir: string;
let out: string;
let records: EvalRecord[];
let log: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'steerd-eval-'));
  const configFile = path.join(dir, 'eval.json');
  await writeFile(configFile, JSON.stringify(CONFIG));
  out = path.join(dir, 'report');
  const argv = ['--model', await testModelPath('tiny'), '--config', configFile, '--out', out, '--threads', '1', '--ctx', '256'];
  log = [];
  await runEvalCommand({ ...parseEvalArgs(argv), log: (line) => log.push(line) }, argv);
  records = (await readFile(path.join(out, 'records.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as EvalRecord);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run eval', () => {
  it('writes the report, three PNG plots, the records and the config', async () => {
    expect((await readdir(out)).sort()).toEqual(
      ['concept-score-vs-perplexity.png', 'concept-score-vs-strength.png', 'config.json', 'kl-vs-strength.png', 'records.jsonl', 'report.md'].sort(),
    );
    for (const file of ['concept-score-vs-strength.png', 'concept-score-vs-perplexity.png', 'kl-vs-strength.png']) {
      const png = await readFile(path.join(out, file));
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([640, 400]);
    }
    expect(JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ ...CONFIG, n: 1, temperature: 0 });
    expect(log.at(-1)).toMatch(/^wrote /);
  });

  it('runs unsteered arms once and steered arms at every strength', () => {
    // 2 concepts × 2 prompts × (2 unsteered + 2 steered × 2 strengths)
    expect(records).toHaveLength(2 * 2 * 6);
    const count = (arm: string, strength: number | null) => records.filter((r) => r.arm === arm && r.strength === strength).length;
    expect([count('baseline', null), count('prompted', null), count('steered', 0.5), count('steered', 4), count('prompted+steered', 4)]).toEqual([4, 4, 4, 4, 4]);
    for (const r of records) expect(r.completionTokens).toBeGreaterThan(0);
  });

  it('measures: baseline KL ~0, and stronger steering moves further from the unsteered model', () => {
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const kl = (arm: string, strength: number | null) => mean(records.filter((r) => r.arm === arm && r.strength === strength).map((r) => r.klToBaseline!));
    for (const r of records.filter((r) => r.arm === 'baseline')) expect(Math.abs(r.klToBaseline!)).toBeLessThan(1e-3);
    expect(kl('steered', 4)).toBeGreaterThan(kl('steered', 0.5));
    expect(kl('prompted', null)).toBeGreaterThan(0.001);
    const words: Record<string, RegExp> = { ocean: /\b(?:sea|ocean|wave)s?\b/i, vec: /\b(?:the|a)s?\b/i };
    for (const r of records) expect(r.usesConcept, r.text).toBe(words[r.concept]!.test(r.text));
  });

  it('states model, machine, seed, the reproducing command and a row per arm and strength', async () => {
    const report = await readFile(path.join(out, 'report.md'), 'utf8');
    expect(report).toMatch(/^# Steering evaluation: tiny-/);
    expect(report).toContain('seed 5, temperature 0, max_tokens 8');
    expect(report).toContain('**Machine**: ');
    expect(report).toMatch(/\*\*Reproduce\*\*: `npm run eval -- --model .* --config .*eval\.json --out /);
    for (const row of ['| baseline ', '| prompted ', '| steered ', '| prompted+steered ']) expect(report).toContain(row);
    expect(report).toContain('](concept-score-vs-strength.png)');
    const throughput = report.slice(report.indexOf('## Throughput'));
    // each arm alone with a full batch (4 sequences)
    for (const arm of ['baseline', 'prompted', 'steered', 'prompted+steered']) expect(throughput).toMatch(new RegExp(`\\| ${arm.replace('+', '\\+')} +\\| 4 +\\|`));
  });
});

describe('the storyworld preset', () => {
  it('has 12 concepts with the forge word lists and 8 prompts that name none of them', () => {
    const config = storyworldConfig();
    expect(config.concepts).toHaveLength(12);
    expect(config.prompts).toHaveLength(8);
    expect(config.strengths).toEqual([0.25, 0.5, 1, 2, 4]);
    expect(config.arms).toEqual(['baseline', 'prompted', 'steered', 'prompted+steered']);
    for (const concept of config.concepts) {
      expect(concept.words.length).toBeGreaterThanOrEqual(8);
      for (const prompt of config.prompts) expect(new RegExp(`\\b(?:${concept.words.join('|')})s?\\b`, 'i').test(prompt)).toBe(false);
    }
  });
});
