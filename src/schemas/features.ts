/**
 * The feature endpoints (steerd's own, no OpenAI counterpart): POST /v1/features/inspect reads the SAE's
 * features on every token of a prompt (and optionally a steered generation), GET /v1/features/search finds
 * features by label and by activation, GET /v1/features/{index} describes one feature.
 */
import { z } from 'zod';
import { steerSchema } from '../steering/steer-schema.js';
import { chatMessageSchema } from './chat-completions.js';
import { steeringField } from './common.js';

export const MAX_INSPECT_TOP_K = 64;
export const DEFAULT_INSPECT_TOP_K = 8;
export const MAX_INSPECT_GENERATED_TOKENS = 1024;
export const MAX_SEARCH_LIMIT = 100;
export const DEFAULT_SEARCH_LIMIT = 20;
export const MAX_SEARCH_QUERY_CHARS = 1_000;

const rarityField = z
  .enum(['common', 'rare', 'ultra', 'legendary'])
  .nullable()
  .describe(
    "The feature's rarity tier from its density percentile among live features (rarer = higher): below 35% common, " +
      'below 45% rare, below 60% ultra, else legendary. null when the SAE has no statistics (npm run sae:stats).',
  );
const labelField = z.string().nullable().describe("The feature's label, null when the SAE has none for it.");
const densityField = z
  .number()
  .nullable()
  .describe('Share of corpus tokens on which the feature fires, from the SAE statistics; null without them.');

export const featureInspectRequestSchema = z
  .strictObject({
    model: z.string().optional().describe('The served model id; optional.'),
    prompt: z.string().min(1).optional().describe('Plain text to read (special tokens in it are parsed). Give prompt or messages.'),
    messages: z.array(chatMessageSchema).min(1).optional().describe("A conversation, rendered with the model's chat template."),
    generate: z
      .strictObject({
        max_tokens: z
          .int()
          .min(0)
          .max(MAX_INSPECT_GENERATED_TOKENS)
          .optional()
          .describe('Tokens to generate after the prompt and inspect too (default 0: the prompt only).'),
        temperature: z.number().min(0).max(2).optional().describe('Sampling temperature (default 1; 0 = greedy).'),
        seed: z.int().optional().describe('Sampling seed, for repeatable generations.'),
      })
      .optional()
      .describe('Optionally generate a continuation (steered by `steer`) and inspect its tokens as well.'),
    steer: steerSchema
      .optional()
      .describe('Steering applied while reading and generating, as in /v1/chat/completions: the features shown are the steered ones.'),
    top_k: z
      .int()
      .min(1)
      .max(MAX_INSPECT_TOP_K)
      .optional()
      .describe(`Features reported per token, strongest first (default ${DEFAULT_INSPECT_TOP_K}).`),
  })
  .superRefine((body, ctx) => {
    if ((body.prompt === undefined) === (body.messages === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [body.prompt === undefined ? 'prompt' : 'messages'],
        message: body.prompt === undefined ? 'give a prompt or messages' : 'give either prompt or messages, not both',
      });
    }
  })
  .meta({ id: 'FeatureInspectRequest' });

export type FeatureInspectRequest = z.infer<typeof featureInspectRequestSchema>;

export const tokenFeatureSchema = z
  .object({
    index: z.int(),
    activation: z.number(),
    label: labelField,
    density: densityField,
    rarity: rarityField,
  })
  .meta({ id: 'TokenFeature' });

export const inspectedTokenSchema = z
  .object({
    position: z.int(),
    token_id: z.int(),
    text: z.string().describe("The token's text (a partial UTF-8 character shows as U+FFFD)."),
    source: z.enum(['prompt', 'generated']),
    features: z.array(tokenFeatureSchema).describe('Active features at this token, strongest first (at most top_k).'),
  })
  .meta({ id: 'InspectedToken' });

export const constellationSchema = z
  .object({
    id: z.string(),
    name: z.string().describe("From the members' labels: the word most of them share, else the strongest member's label."),
    features: z.array(z.int()).describe('Member features, strongest first.'),
    positions: z.array(z.int()).describe('Token positions where at least two members fire together.'),
    strength: z.number().describe("Members' summed activation per such position."),
  })
  .describe(
    'A group of features that fire together across the text: features among the per-token top features at 2+ ' +
      'positions, linked when they share at least half of their positions (Jaccard >= 0.5), grouped by connected components.',
  )
  .meta({ id: 'Constellation' });

export const featureInspectionSchema = z
  .object({
    object: z.literal('features.inspection'),
    model: z.string(),
    sae: z.object({ id: z.string(), layer: z.int(), hook_name: z.string(), d_sae: z.int() }),
    tokens: z.array(inspectedTokenSchema),
    constellations: z.array(constellationSchema),
    steering: steeringField.optional(),
  })
  .meta({ id: 'FeatureInspection' });

export type FeatureInspection = z.infer<typeof featureInspectionSchema>;

export const featureSearchQuerySchema = z.strictObject({
  q: z.string().min(1).max(MAX_SEARCH_QUERY_CHARS).describe('Words to look for in labels, and text to run through the model.'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_SEARCH_LIMIT)
    .optional()
    .describe(`Most results (default ${DEFAULT_SEARCH_LIMIT}).`),
});

export const featureSearchResultSchema = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        index: z.int(),
        label: labelField,
        density: densityField,
        rarity: rarityField,
        score: z
          .number()
          .describe(
            "label: how well the label matches the query's words (0..1, rare words count more); activation: the " +
              "feature's strongest activation on the query text's tokens.",
          ),
        match: z.enum(['label', 'activation']),
      }),
    ),
  })
  .describe('Label matches first, best first; then the features most active on the query text (as Neuronpedia searches by inference).')
  .meta({ id: 'FeatureSearchResult' });

export type FeatureSearchResult = z.infer<typeof featureSearchResultSchema>;

export const featureParamsSchema = z.strictObject({
  index: z.coerce.number().int().min(0).describe('A feature index, 0..d_sae-1.'),
});

export const featureSchema = z
  .object({
    object: z.literal('feature'),
    index: z.int(),
    label: labelField,
    density: densityField,
    max_activation: z.number().nullable().describe('Largest activation seen in the statistics corpus; null without statistics.'),
    rarity: rarityField,
    top_contexts: z
      .array(z.object({ text: z.string().describe('The context, the token marked [[ ]].'), token: z.string(), activation: z.number() }))
      .describe('The strongest activations in the statistics corpus, strongest first.'),
    nearest: z
      .array(z.object({ index: z.int(), label: labelField, cosine: z.number() }))
      .describe('The features whose decoder directions are closest in cosine.'),
  })
  .meta({ id: 'Feature' });

export type FeatureDetail = z.infer<typeof featureSchema>;
