/**
 * Builds one decode step: every generating sequence contributes its last token, then prompts are prefilled in
 * chunks with what is left of the token budget (continuous batching). Records which rows belong to whom so
 * the results can be routed back.
 */
import type { NativeBatch, NativeSampler } from '../native/addon.js';
import type { EvaluateJob, GenerateJob, Job } from './jobs.js';

export interface RowSpan {
  job: Job;
  /** first batch row, number of rows, first prompt index (prefill spans) */
  start: number;
  count: number;
  promptOffset: number;
}

export interface BatchPlan {
  batch: NativeBatch;
  spans: RowSpan[];
  /** per sample row: the job it samples for */
  sampled: GenerateJob[];
  /** per logit row: the job and the index it gives acceptLogits (a fed row, or a generated position) */
  logitTargets: { job: Job; index: number }[];
  /** per capture: the evaluate job and its layer slot */
  captureTargets: { job: EvaluateJob; layerSlot: number; promptOffset: number }[];
}

/** `rotation` moves the first decoding sequence each step, so a budget smaller than the crowd starves no one. */
export function planBatch(jobs: readonly Job[], budget: number, rotation = 0): BatchPlan | undefined {
  const tokens: number[] = [];
  const positions: number[] = [];
  const seqIds: number[] = [];
  const generated: number[] = [];
  const sampleRows: number[] = [];
  const samplers: NativeSampler[] = [];
  const topLogprobs: number[] = [];
  const logitRows: number[] = [];
  const spans: RowSpan[] = [];
  const sampled: GenerateJob[] = [];
  const logitTargets: BatchPlan['logitTargets'] = [];
  const captures: NativeBatch['captures'] = [];
  const captureTargets: BatchPlan['captureTargets'] = [];

  const addRow = (job: Job, token: number, position: number, isGenerated: boolean): number => {
    tokens.push(token);
    positions.push(position);
    seqIds.push(job.seq);
    generated.push(isGenerated ? 1 : 0);
    return tokens.length - 1;
  };
  const addSample = (job: GenerateJob, row: number) => {
    sampleRows.push(row);
    samplers.push(job.options.sampler);
    topLogprobs.push(job.topLogprobsRequested);
    sampled.push(job);
    if (job.wantsDistribution) {
      logitRows.push(row);
      logitTargets.push({ job, index: job.generated.length });
    }
  };

  // decoding sequences first: one token each keeps their inter-token latency steady
  for (let k = 0; k < jobs.length; k++) {
    const job = jobs[(k + rotation) % jobs.length]!;
    if (job.kind !== 'generate' || job.prefilling || job.done || job.aborted) continue;
    if (tokens.length >= budget) break;
    const row = addRow(job, job.lastToken, job.nPast, true);
    spans.push({ job, start: row, count: 1, promptOffset: -1 });
    addSample(job, row);
  }
  // then prompt chunks, in arrival order
  for (const job of jobs) {
    if (!job.prefilling || job.done || job.aborted) continue;
    const room = budget - tokens.length;
    if (room <= 0) break;
    const count = Math.min(room, job.prompt.length - job.prefilled);
    const start = tokens.length;
    for (let i = 0; i < count; i++) {
      const index = job.prefilled + i;
      const row = addRow(job, job.prompt[index]!, index, job.isGeneratedRow(index));
      if (job.wantsLogits(index)) {
        logitRows.push(row);
        logitTargets.push({ job, index });
      }
    }
    spans.push({ job, start, count, promptOffset: job.prefilled });
    if (job.kind === 'generate' && job.prefilled + count === job.prompt.length) addSample(job, start + count - 1);
    if (job.kind === 'evaluate') {
      job.layers.forEach((layer, layerSlot) => {
        captures.push({ layer, rows: Int32Array.from({ length: count }, (_, i) => start + i) });
        captureTargets.push({ job, layerSlot, promptOffset: job.prefilled });
      });
    }
  }
  if (!tokens.length) return undefined;
  return {
    batch: {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(positions),
      seqIds: Int32Array.from(seqIds),
      generated: Uint8Array.from(generated),
      sampleRows: Int32Array.from(sampleRows),
      samplers,
      topLogprobs: Int32Array.from(topLogprobs),
      logitRows: Int32Array.from(logitRows),
      captures,
    },
    spans,
    sampled,
    logitTargets,
    captureTargets,
  };
}
