/**
 * From records to the report's numbers, per arm and strength (the unsteered arms have one row each):
 * concept score = share of answers that use the concept's words; perplexity = exp(−mean fluency) over the
 * answers with tokens (a geometric mean of per-answer perplexities); KL = mean kl_to_baseline.
 */
import { COMPARE_ARMS, type CompareArmName } from '../../src/schemas/compare.js';
import type { EvalRecord } from './run-eval.js';

export interface ArmSummary {
  arm: CompareArmName;
  strength: number | null;
  answers: number;
  conceptScore: number;
  perplexity: number | null;
  klToBaseline: number | null;
  meanTokens: number;
  tokensPerSecond: number;
}

function meanOf(values: number[]): number | null {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : null;
}

export function groupKey(arm: CompareArmName, strength: number | null): string {
  return `${arm}@${strength ?? '-'}`;
}

function summarizeGroup(records: EvalRecord[]): ArmSummary {
  const fluency = meanOf(records.flatMap((r) => (r.fluency === null ? [] : [r.fluency])));
  return {
    arm: records[0]!.arm,
    strength: records[0]!.strength,
    answers: records.length,
    conceptScore: records.filter((r) => r.usesConcept).length / records.length,
    perplexity: fluency === null ? null : Math.exp(-fluency),
    klToBaseline: meanOf(records.flatMap((r) => (r.klToBaseline === null ? [] : [r.klToBaseline]))),
    meanTokens: meanOf(records.map((r) => r.completionTokens)) ?? 0,
    tokensPerSecond: meanOf(records.map((r) => r.tokensPerSecond)) ?? 0,
  };
}

/** One row per arm (and strength, for the steered arms), arms in the API's order, strengths ascending. */
export function summarize(records: readonly EvalRecord[], filter: (r: EvalRecord) => boolean = () => true): ArmSummary[] {
  const groups = new Map<string, EvalRecord[]>();
  for (const record of records) {
    if (!filter(record)) continue;
    const key = groupKey(record.arm, record.strength);
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  return [...groups.values()]
    .map(summarizeGroup)
    .sort((a, b) => COMPARE_ARMS.indexOf(a.arm) - COMPARE_ARMS.indexOf(b.arm) || (a.strength ?? 0) - (b.strength ?? 0));
}
