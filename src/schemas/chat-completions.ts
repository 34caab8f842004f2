/**
 * POST /v1/chat/completions: request, response and stream chunk. OpenAI's fields come first, in the order of
 * OpenAI's API reference; steerd's extensions follow in their own block (see steerdExtensionFields).
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
  topLogprobSchema,
  topPField,
  usageSchema,
  userField,
} from './common.js';

const textPartSchema = z.strictObject({
  type: z.literal('text').describe('Only text parts are supported.'),
  text: z.string(),
});

export const chatMessageSchema = z.strictObject({
  role: z
    .enum(['developer', 'system', 'user', 'assistant'])
    .describe('developer is treated as system; tool messages are not supported.'),
  content: z.union([z.string(), z.array(textPartSchema)]).describe('A string or an array of text parts.'),
  name: z.string().optional().describe('Passed to the chat template, which may ignore it.'),
}).meta({ id: 'ChatMessage' });

export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const chatCompletionRequestSchema = z
  .strictObject({
    model: modelField,
    messages: z.array(chatMessageSchema).min(1).describe('The conversation so far, oldest message first.'),
    frequency_penalty: frequencyPenaltyField,
    logit_bias: logitBiasField,
    logprobs: z.boolean().nullish().describe('Return the log probability of each output token.'),
    top_logprobs: z
      .int()
      .min(0)
      .max(20)
      .nullish()
      .describe('How many most likely alternatives to return per token (0-20); needs logprobs: true.'),
    max_tokens: maxTokensField.describe('Deprecated by OpenAI in favour of max_completion_tokens; same meaning.'),
    max_completion_tokens: maxTokensField,
    n: nField,
    presence_penalty: presencePenaltyField,
    response_format: responseFormatField,
    seed: seedField,
    stop: stopField,
    stream: streamField,
    stream_options: streamOptionsField,
    temperature: temperatureField,
    top_p: topPField,
    user: userField,
    // steerd extensions
    ...steerdExtensionFields,
  })
  .superRefine((request, ctx) => {
    if (request.top_logprobs && !request.logprobs) {
      ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: 'top_logprobs needs logprobs: true' });
    }
  })
  .meta({ id: 'ChatCompletionRequest' });

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const chatLogprobEntrySchema = topLogprobSchema.extend({ top_logprobs: z.array(topLogprobSchema) });

export const chatLogprobsSchema = z.object({ content: z.array(chatLogprobEntrySchema) });

export type ChatLogprobs = z.infer<typeof chatLogprobsSchema>;

export const chatCompletionResponseSchema = z
  .object({
    id: z.string().describe('chatcmpl-...'),
    object: z.literal('chat.completion'),
    created: z.int().describe('Unix time in seconds.'),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        message: z.object({ role: z.literal('assistant'), content: z.string() }),
        logprobs: chatLogprobsSchema.nullable(),
        finish_reason: finishReasonField,
      }),
    ),
    usage: usageSchema,
    steering: steeringField,
  })
  .meta({ id: 'ChatCompletion' });

export type ChatCompletionResponse = z.infer<typeof chatCompletionResponseSchema>;

export const chatCompletionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.int(),
    model: z.string(),
    choices: z
      .array(
        z.object({
          index: z.int(),
          delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
          logprobs: chatLogprobsSchema.nullable(),
          finish_reason: finishReasonField.nullable(),
        }),
      )
      .describe('Empty in the final usage chunk.'),
    usage: usageSchema
      .nullable()
      .optional()
      .describe('With stream_options.include_usage: null on every chunk but the last, which has choices: [].'),
    steering: steeringField.optional().describe('steerd extension: on the first chunk only.'),
  })
  .meta({ id: 'ChatCompletionChunk' });

export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;
