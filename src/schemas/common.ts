/**
 * Pieces shared by the chat-completions and completions schemas. These zod schemas are the single source of
 * the request validation, the TypeScript types and the OpenAPI document.
 */
import { z } from 'zod';
import { steerItemSchema, steerSchema } from '../steering/steer-schema.js';

// Named components in the OpenAPI document (each is then described once and referenced, not inlined per use).
// The steering schemas live in src/steering/, so their names are given here, keeping their descriptions.
z.globalRegistry.add(steerItemSchema, { ...z.globalRegistry.get(steerItemSchema), id: 'SteerItem' });
z.globalRegistry.add(steerSchema, { ...z.globalRegistry.get(steerSchema), id: 'Steer' });

export const modelField = z.string().min(1).describe('ID of the model to use (see GET /v1/models).');

export const frequencyPenaltyField = z
  .number()
  .min(-2)
  .max(2)
  .nullish()
  .describe('Penalizes tokens by how often they already appeared in the text so far. Default 0.');

export const presencePenaltyField = z
  .number()
  .min(-2)
  .max(2)
  .nullish()
  .describe('Penalizes tokens that already appeared in the text so far. Default 0.');

export const logitBiasField = z
  .record(z.string().regex(/^\d+$/, 'keys must be token ids (decimal integers)'), z.number().min(-100).max(100))
  .nullish()
  .describe('Maps token ids (as strings) to a bias from -100 to 100 added to their logits before sampling.');

export const maxTokensField = z
  .int()
  .min(1)
  .nullish()
  .describe('The most tokens to generate. Default and upper limit: what is left of the per-sequence context.');

export const nField = z
  .int()
  .min(1)
  .max(16)
  .nullish()
  .describe('How many choices to generate; they run concurrently with seeds seed, seed+1, ... Default 1.');

const jsonSchemaFormat = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, underscores or dashes')
    .describe('A name for the schema.'),
  description: z.string().optional(),
  schema: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('The JSON Schema the output must follow (the subset node-llama-cpp turns into a grammar).'),
  strict: z.boolean().nullish().describe('Accepted for compatibility; output always follows the schema.'),
});

export const responseFormatField = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text') }),
    z.strictObject({ type: z.literal('json_object') }),
    z.strictObject({ type: z.literal('json_schema'), json_schema: jsonSchemaFormat }),
  ])
  .meta({ id: 'ResponseFormat' })
  .nullish()
  .describe('Constrains the output: free text, any JSON object, or JSON that follows a schema (by grammar).');

export type ResponseFormat = NonNullable<z.infer<typeof responseFormatField>>;

export const seedField = z
  .int()
  .nullish()
  .describe('Makes sampling repeatable: the same seed, prompt and parameters give the same output.');

export const stopField = z
  .union([z.string().min(1), z.array(z.string().min(1)).max(4)])
  .nullish()
  .describe('Up to 4 strings that end the generation; the stop string is not part of the output.');

export const streamField = z.boolean().nullish().describe('Send the output as server-sent events while it is generated.');

export const streamOptionsField = z
  .strictObject({
    include_usage: z
      .boolean()
      .optional()
      .describe('Send a final chunk with the usage and an empty choices array before data: [DONE].'),
  })
  .nullish();

export const temperatureField = z
  .number()
  .min(0)
  .max(2)
  .nullish()
  .describe('Sampling temperature; 0 is greedy (always the most likely token). Default 1.');

export const topPField = z.number().min(0).max(1).nullish().describe('Nucleus sampling mass. Default 1 (off).');

export const userField = z.string().max(256).optional().describe('An end-user ID; accepted and ignored.');

/**
 * steerd's own request fields, outside OpenAI's API. With the `openai` client pass them as extra body fields.
 * They come after the OpenAI fields in every request schema so the two sets stay easy to tell apart.
 */
export const steerdExtensionFields = {
  steer: steerSchema
    .optional()
    .describe(
      'steerd extension: steers the model by adding vectors to its residual stream. A phrase, one steering item, ' +
        'or a list of items (phrase, SAE feature or raw vector, each with its own strength).',
    ),
  top_k: z.int().min(0).nullish().describe('steerd extension: sample only from the k most likely tokens; 0 = off.'),
  min_p: z
    .number()
    .min(0)
    .max(1)
    .nullish()
    .describe('steerd extension: drop tokens less likely than min_p times the most likely one; 0 = off.'),
  repeat_penalty: z
    .number()
    .positive()
    .max(10)
    .nullish()
    .describe('steerd extension: divides the logits of recently seen tokens (llama.cpp style); 1 = off.'),
};

export const finishReasonField = z
  .enum(['stop', 'length'])
  .describe('stop: the model ended or a stop string matched; length: max_tokens or the context ran out.');

export const usageSchema = z
  .object({
    prompt_tokens: z.int(),
    completion_tokens: z.int(),
    total_tokens: z.int(),
  })
  .meta({ id: 'Usage' });

export type Usage = z.infer<typeof usageSchema>;

/** How the server applied one steering item; mirrors SteeringEcho in src/steering/resolve.ts. */
export const steeringEchoSchema = z
  .object({
    source: z.enum(['phrase', 'feature', 'vector']),
    phrase: z.string().optional(),
    feature: z.int().optional(),
    label: z.string().optional().describe("The feature's label, when the SAE has one."),
    mode: z.enum(['add', 'clamp']),
    layer: z.int(),
    strength: z.number(),
    apply_to: z.enum(['all', 'prompt', 'generation']),
    vector_norm: z.number().nullable().describe('Norm of the added vector (strength × mean residual norm); null for clamp.'),
    phrase_method: z
      .enum(['activation_addition', 'label_search'])
      .optional()
      .describe(
        "How a phrase was turned into a direction. label_search (with an SAE that has labels, at the SAE's layer): some " +
          "feature's label holds every word of the phrase, and the best such feature's decoder direction is used. " +
          "activation_addition: the phrase's mean residual minus a neutral text's.",
      ),
    features: z
      .array(z.object({ index: z.int(), label: z.string(), score: z.number() }))
      .optional()
      .describe('label_search: the feature the phrase resolved to, with its label match score (0..1).'),
    top_features: z
      .array(z.object({ index: z.int(), activation: z.number(), label: z.string().optional() }))
      .optional()
      .describe("The SAE features most active on the phrase, when the server has an SAE."),
  })
  .meta({ id: 'SteeringEcho' });

export const steeringField = z
  .array(steeringEchoSchema)
  .describe('steerd extension: the steering applied to this request (empty when none).');

export const topLogprobSchema = z.object({
  token: z.string(),
  logprob: z.number(),
  bytes: z.array(z.int()).nullable(),
});
