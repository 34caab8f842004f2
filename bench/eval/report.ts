/**
 * Writes an evaluation to a folder: report.md (what ran, where, how to rerun it, tables), three PNG plots,
 * the raw records (records.jsonl) and the exact config used (config.json).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { COMPARE_ARMS, KL_POSITIONS, type CompareArmName } from '../../src/schemas/compare.js';
import { table } from '../machine.js';
import type { EvalConfig } from './config.js';
import { drawChart, type Series } from './plot.js';
import type { Rgb } from './raster.js';
import type { EvalRecord, ThroughputRow } from './run-eval.js';
import { summarize, type ArmSummary } from './summarize.js';

export interface ReportInput {
  config: EvalConfig;
  records: EvalRecord[];
  throughput: ThroughputRow[];
  model: { path: string; name: string; nLayer: number; nEmbd: number; nVocab: number; steerLayer: number; sae: string | null };
  machine: string;
  /** the command that reproduces the report */
  command: string;
  startedAt: Date;
  seconds: number;
}

export const ARM_COLORS: Record<CompareArmName, { rgb: Rgb; name: string }> = {
  baseline: { rgb: [110, 110, 110], name: 'grey' },
  prompted: { rgb: [31, 119, 180], name: 'blue' },
  steered: { rgb: [230, 110, 10], name: 'orange' },
  'prompted+steered': { rgb: [44, 160, 44], name: 'green' },
};

export const PLOT_FILES = {
  scoreVsStrength: 'concept-score-vs-strength.png',
  scoreVsPerplexity: 'concept-score-vs-perplexity.png',
  klVsStrength: 'kl-vs-strength.png',
} as const;

const fixed = (value: number | null, digits: number) => (value === null ? '—' : value.toFixed(digits));

function legend(arms: readonly CompareArmName[]): string {
  return arms.map((arm) => `${ARM_COLORS[arm].name}: ${arm}`).join(', ');
}

/** y against strength: steered arms one point per strength, unsteered arms a flat line across the sweep. */
function againstStrength(rows: ArmSummary[], arms: readonly CompareArmName[], strengths: number[], y: (r: ArmSummary) => number | null): Series[] {
  return arms.map((arm) => {
    const mine = rows.filter((r) => r.arm === arm);
    const points = mine.flatMap((r) => {
      const value = y(r);
      if (value === null) return [];
      return r.strength === null ? strengths.map((x) => ({ x, y: value })) : [{ x: r.strength, y: value }];
    });
    return { color: ARM_COLORS[arm].rgb, points, line: true };
  });
}

export async function writeReport(dir: string, input: ReportInput): Promise<string[]> {
  const { config, records } = input;
  await mkdir(dir, { recursive: true });
  const rows = summarize(records);
  const arms = COMPARE_ARMS.filter((arm) => config.arms.includes(arm));
  // a log axis needs positive strengths; a sweep with 0 or negative values gets a linear one
  const strengths = [...config.strengths].sort((a, b) => a - b);
  const xLog = strengths.every((s) => s > 0);

  const charts: [string, Series[], Parameters<typeof drawChart>[1]][] = [
    [PLOT_FILES.scoreVsStrength, againstStrength(rows, arms, strengths, (r) => r.conceptScore), { xLog, xTicks: strengths, yRange: [0, 1] }],
    [
      PLOT_FILES.scoreVsPerplexity,
      arms.map((arm) => ({
        color: ARM_COLORS[arm].rgb,
        points: rows.filter((r) => r.arm === arm && r.perplexity !== null).map((r) => ({ x: r.perplexity!, y: r.conceptScore })),
        line: true,
      })),
      { xLog: true, yRange: [0, 1] },
    ],
    [PLOT_FILES.klVsStrength, againstStrength(rows, arms, strengths, (r) => r.klToBaseline), { xLog, xTicks: strengths }],
  ];
  for (const [file, series, options] of charts) await writeFile(path.join(dir, file), drawChart(series, options).toPng());

  await writeFile(path.join(dir, 'records.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeFile(path.join(dir, 'report.md'), renderMarkdown(input, rows, arms, strengths));
  return ['report.md', ...Object.values(PLOT_FILES), 'records.jsonl', 'config.json'];
}

function renderMarkdown(input: ReportInput, rows: ArmSummary[], arms: CompareArmName[], strengths: number[]): string {
  const { config, records, model } = input;
  const summaryTable = table(
    ['arm', 'strength', 'answers', 'concept score', 'perplexity', 'KL to baseline', 'tokens/answer', 'tokens/s'],
    rows.map((r) => [
      r.arm,
      r.strength === null ? '—' : String(r.strength),
      r.answers,
      fixed(r.conceptScore, 3),
      fixed(r.perplexity, 2),
      fixed(r.klToBaseline, 4),
      fixed(r.meanTokens, 1),
      fixed(r.tokensPerSecond, 1),
    ]),
  );
  const columns = rows.map((r) => (r.strength === null ? r.arm : `${r.arm} ${r.strength}`));
  const perConcept = table(
    ['concept', ...columns],
    config.concepts.map((concept) => {
      const mine = summarize(records, (r) => r.concept === concept.id);
      return [concept.id, ...rows.map((r) => fixed(mine.find((m) => m.arm === r.arm && m.strength === r.strength)?.conceptScore ?? null, 2))];
    }),
  );
  const throughput = input.throughput.length
    ? table(
        ['arm (alone)', 'sequences', 'tokens', 'seconds', 'tokens/s'],
        input.throughput.map((t) => [t.arm, t.sequences, t.tokens, t.seconds.toFixed(2), t.tokensPerSecond.toFixed(1)]),
      )
    : '(not measured)';
  return `# Steering evaluation: ${model.name}

${headline(rows)}

- **Date**: ${input.startedAt.toISOString()} (${input.seconds.toFixed(0)} s)
- **Machine**: ${input.machine}
- **Model**: \`${model.path}\` (${model.nLayer} layers, n_embd ${model.nEmbd}, vocabulary ${model.nVocab}); steering layer ${model.steerLayer}; SAE: ${model.sae ? `\`${model.sae}\`` : 'none'}
- **Sampling**: seed ${config.seed}, temperature ${config.temperature}, max_tokens ${config.max_tokens}, ${config.n} sample(s) per prompt and arm
- **Sweep**: ${config.concepts.length} concepts × ${config.prompts.length} prompts × ${arms.length} arms (${arms.join(', ')}) × strengths ${strengths.join(', ')} (unsteered arms run once per concept and prompt)
- **Prompted arms**: \`${config.prompt_template}\`
- **Reproduce**: \`${input.command}\`

## Per arm and strength

${summaryTable}

- *concept score*: the share of answers that use one of the concept's words (whole word, any case, plural "s").
- *perplexity*: exp(−mean log-probability) of the answers' tokens under the unsteered model given the original
  prompt (a geometric mean over answers).
- *KL to baseline*: KL(arm ‖ unsteered model on the original prompt, same prefix), nats per token over the first
  ${KL_POSITIONS} generated positions (see \`POST /v1/compare\`).
- *tokens/s*: the arm's decode rate inside its compare call; the arms of a call share decode steps, so these
  are close — the throughput table below runs each arm alone.

## Plots

Colours: ${legend(arms)}.

![concept score against strength (log scale)](${PLOT_FILES.scoreVsStrength})

*Concept score (y, 0–1) against steering strength (x${strengths.every((s) => s > 0) ? ', log scale' : ''}); the unsteered arms are flat lines.*

![concept score against perplexity](${PLOT_FILES.scoreVsPerplexity})

*Concept score (y) against perplexity under the unsteered model (x, log scale): up and to the left is better. The steered
arms' points follow the sweep; the unsteered arms are one point each.*

![KL to baseline against strength](${PLOT_FILES.klVsStrength})

*KL to the unsteered model (y, nats per token) against strength (x).*

## Concept score per concept

${perConcept}

## Throughput (each arm alone, a full batch)

${throughput}
`;
}

/** One sentence on where steering stands against prompting, from the table (stated, not hidden, either way). */
function headline(rows: ArmSummary[]): string {
  const prompted = rows.find((r) => r.arm === 'prompted');
  const steered = rows.filter((r) => r.arm === 'steered');
  if (!prompted || steered.length === 0) return '';
  const best = steered.reduce((a, b) => (b.conceptScore > a.conceptScore ? b : a));
  const verdict = best.conceptScore > prompted.conceptScore ? 'beats' : best.conceptScore === prompted.conceptScore ? 'ties with' : 'trails';
  return (
    `**Headline**: steering's best concept score (${best.conceptScore.toFixed(3)} at strength ${best.strength}, perplexity ` +
    `${fixed(best.perplexity, 2)}) ${verdict} prompting's (${prompted.conceptScore.toFixed(3)}, perplexity ${fixed(prompted.perplexity, 2)}).`
  );
}
