/**
 * What an evaluation runs: concepts (each a steering and the words that show it was used), prompts, the arms,
 * the strength sweep and the sampling settings. Read from a JSON file (`--config`), so any model can be
 * evaluated with its own concepts; `storyworld.ts` builds the forge model's.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { COMPARE_ARMS } from '../../src/schemas/compare.js';
import { steerItemSchema } from '../../src/steering/steer-schema.js';

const conceptSchema = z.strictObject({
  id: z.string().min(1),
  /** how the prompted arm names it ("Make sure to use {name}."); default: the id */
  name: z.string().min(1).optional(),
  /** the steering, without strength (the sweep sets it); default: { phrase: name } */
  steer: steerItemSchema.optional(),
  /** an answer "uses the concept" when it contains one of these as a whole word (plural "s" allowed) */
  words: z.array(z.string().min(1)).min(1),
});

export const evalConfigSchema = z.strictObject({
  concepts: z.array(conceptSchema).min(1),
  prompts: z.array(z.string().min(1)).min(1),
  /** add strengths (multiples of the layer's mean residual norm) or, for clamp steering, clamp values */
  strengths: z.array(z.number().finite()).min(1).default([0.25, 0.5, 1, 2, 4]),
  arms: z.array(z.enum(COMPARE_ARMS)).min(1).default([...COMPARE_ARMS]),
  /** the prompted arms' user message; {message} is the prompt, {name} the concept's name */
  prompt_template: z.string().min(1).default('{message} Make sure to use {name}.'),
  system: z.string().optional(),
  max_tokens: z.int().min(1).default(48),
  temperature: z.number().min(0).max(2).default(0),
  seed: z.int().default(1),
  /** samples per prompt and arm (seeds seed, seed+1, ...) */
  n: z.int().min(1).max(16).default(1),
});

export type EvalConfig = z.infer<typeof evalConfigSchema>;
export type EvalConcept = EvalConfig['concepts'][number];

export function parseEvalConfig(json: unknown, where = 'the config'): EvalConfig {
  const parsed = evalConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const ids = parsed.data.concepts.map((c) => c.id);
  const repeated = ids.find((id, i) => ids.indexOf(id) !== i);
  if (repeated) throw new Error(`${where}: concept "${repeated}" is listed twice`);
  return parsed.data;
}

export async function readEvalConfig(file: string): Promise<EvalConfig> {
  return parseEvalConfig(JSON.parse(await readFile(file, 'utf8')), file);
}

export const conceptName = (concept: EvalConcept): string => concept.name ?? concept.id;
