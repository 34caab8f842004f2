/**
 * POST /v1/completions (the legacy text-completion endpoint): request, response and stream chunk. OpenAI's
 * fields come first, in the order of OpenAI's API reference; steerd's extensions follow in their own block.
 */
import { z } from 'zod';
import {
  finishReasonField,
  frequencyPenaltyField,
  logitBiasField,
  maxTokensField,
  modelField,
  nField,
  presencePenaltyField,
  responseFormatField,
  seedField,
  steerdExtensionFields,
  steeringField,
  stopField,
  streamField,
  streamOptionsField,
  temperatureField,
  topPField,
  usageSchema,
  userField,
} from './common.js';

const tokenIdsSchema = z.array(z.int().min(0)).min(1);

export const completionRequestSchema = z
  .strictObject({
    model: modelField,
    prompt: z
      .union([z.string(), z.array(z.string()).min(1), tokenIdsSchema, z.array(tokenIdsSchema).min(1)])
      .describe('A string, an array of strings, an array of token ids, or an array of token-id arrays.'),
    echo: z
      .literal(false, { error: 'echo is not supported; leave it out or set it to false' })
      .nullish()
      .describe('Echoing the prompt back is not supported; only false is accepted.'),
    frequency_penalty: frequencyPenaltyField,
    logit_bias: logitBiasField,
    logprobs: z
      .int()
      .min(0)
      .max(20)
      .nullish()
      .describe('Return the log probability of each output token and of the N most likely alternatives (0-20).'),
    max_tokens: maxTokensField,
    n: nField,
    presence_penalty: presencePenaltyField,
    seed: seedField,
    stop: stopField,
    stream: streamField,
    stream_options: streamOptionsField,
    temperature: temperatureField,
    top_p: topPField,
    user: userField,
    // steerd extensions (response_format is OpenAI's chat field, offered here too)
    response_format: responseFormatField.describe('steerd extension on this endpoint: as in chat completions.'),
    ...steerdExtensionFields,
  })
  .meta({ id: 'CompletionRequest' });

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export const completionLogprobsSchema = z.object({
  tokens: z.array(z.string()),
  token_logprobs: z.array(z.number()),
  top_logprobs: z.array(z.record(z.string(), z.number())),
  text_offset: z.array(z.int()),
});

export type CompletionLogprobs = z.infer<typeof completionLogprobsSchema>;

const completionChoiceSchema = z.object({
  index: z.int().describe('prompt index × n + choice number'),
  text: z.string(),
  logprobs: completionLogprobsSchema.nullable(),
  finish_reason: finishReasonField,
});

export const completionResponseSchema = z
  .object({
    id: z.string().describe('cmpl-...'),
    object: z.literal('text_completion'),
    created: z.int().describe('Unix time in seconds.'),
    model: z.string(),
    choices: z.array(completionChoiceSchema),
    usage: usageSchema,
    steering: steeringField,
  })
  .meta({ id: 'Completion' });

export type CompletionResponse = z.infer<typeof completionResponseSchema>;

export const completionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.int(),
    model: z.string(),
    choices: z
      .array(completionChoiceSchema.extend({ finish_reason: finishReasonField.nullable() }))
      .describe('Empty in the final usage chunk.'),
    usage: usageSchema
      .nullable()
      .optional()
      .describe('With stream_options.include_usage: null on every chunk but the last, which has choices: [].'),
    steering: steeringField.optional().describe('steerd extension: on the first chunk only.'),
  })
  .meta({ id: 'CompletionChunk' });

export type CompletionChunk = z.infer<typeof completionChunkSchema>;
