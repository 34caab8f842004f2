/**
 * POST /v1/compare: one chat request decoded as up to four arms side by side — baseline, prompted (the steering
 * asked for in words), steered, prompted+steered — with fluency and KL measures per arm. Built from the chat
 * completion schema's pieces, so the shared fields validate and document the same way.
 */
import { z } from 'zod';
import { steerSchema } from '../steering/steer-schema.js';
import { chatMessageSchema } from './chat-completions.js';
import {
  finishReasonField,
  frequencyPenaltyField,
  logitBiasField,
  maxTokensField,
  modelField,
  nField,
  presencePenaltyField,
  seedField,
  steerdExtensionFields,
  steeringField,
  stopField,
  streamField,
  temperatureField,
  topPField,
  usageSchema,
  userField,
} from './common.js';

export const COMPARE_ARMS = ['baseline', 'prompted', 'steered', 'prompted+steered'] as const;
export type CompareArmName = (typeof COMPARE_ARMS)[number];

/** Generated positions over which kl_to_baseline is averaged. */
export const KL_POSITIONS = 32;

export const MAX_PROMPT_TEMPLATE_CHARS = 4_000;

/** The definitions every client needs to read the measures right; shown in the OpenAPI document. */
const FLUENCY_DESCRIPTION =
  "Mean log-probability (nats) of the sample's tokens under the UNSTEERED model given the ORIGINAL messages " +
  '(a teacher-forced pass; raw logits, no sampling settings): how natural the text is for the plain model. ' +
  'null when no token was generated.';
const KL_DESCRIPTION =
  `KL(arm ‖ baseline) in nats per token, averaged over the first min(${KL_POSITIONS}, completion_tokens) generated ` +
  'positions t: Σ_v P_t(v) (log P_t(v) − log Q_t(v)), where P_t is the next-token distribution the arm computed ' +
  "while generating position t (its own messages and steering, softmax of the raw logits before temperature, " +
  'top-k/p or penalties) and Q_t the UNSTEERED model on the ORIGINAL messages followed by the same first t ' +
  'generated tokens. 0 for the baseline arm up to float rounding; null when no token was generated.';

const armNameField = z
  .enum(COMPARE_ARMS)
  .meta({ id: 'CompareArmName' })
  .describe(
    'baseline: the messages as given, unsteered. prompted: the last user message rewritten by prompt_template, unsteered. ' +
      'steered: the messages as given, with steer. prompted+steered: both.',
  );

export const compareRequestSchema = z
  .strictObject({
    model: modelField,
    messages: z.array(chatMessageSchema).min(1).describe('The conversation so far, oldest message first.'),
    frequency_penalty: frequencyPenaltyField,
    logit_bias: logitBiasField,
    max_tokens: maxTokensField.describe('Deprecated by OpenAI in favour of max_completion_tokens; same meaning.'),
    max_completion_tokens: maxTokensField,
    n: nField.describe('Samples per arm; sample i of every arm uses seed seed+i. Default 1.'),
    presence_penalty: presencePenaltyField,
    seed: seedField.describe('Shared by all arms (sample i: seed+i), so arms differ only by prompt and steering.'),
    stop: stopField,
    stream: streamField.describe('Stream every arm at once: each chunk names its arm and sample; one data: [DONE] at the end.'),
    temperature: temperatureField,
    top_p: topPField,
    user: userField,
    // steerd extensions
    ...steerdExtensionFields,
    steer: steerSchema.describe('The steering of the steered arms: a phrase, one item, or a list of items (as in chat completions).'),
    arms: z
      .array(armNameField)
      .min(1)
      .max(COMPARE_ARMS.length)
      .optional()
      .describe('Which arms to run, in the order given. Default: all four.'),
    prompt_template: z
      .string()
      .min(1)
      .max(MAX_PROMPT_TEMPLATE_CHARS)
      .optional()
      .describe(
        "The prompted arms' last user message. {message} stands for the original message and {phrase} for the steering " +
          'phrases (joined with " and "). Default, when every steering item is a phrase: "{message} Make sure to use {phrase}." ' +
          '(phrases with a negative strength: "Make sure not to use ..."). Required for prompted arms when steer has feature or vector items.',
      ),
  })
  .superRefine((request, ctx) => {
    const arms = request.arms ?? [];
    const repeated = arms.find((arm, i) => arms.indexOf(arm) !== i);
    if (repeated) ctx.addIssue({ code: 'custom', path: ['arms'], message: `arm "${repeated}" is listed twice` });
  })
  .meta({ id: 'CompareRequest' });

export type CompareRequest = z.infer<typeof compareRequestSchema>;

export const compareSampleSchema = z
  .object({
    index: z.int().describe('The sample number within its arm (0..n-1).'),
    seed: z.int(),
    text: z.string(),
    tokens: z.array(z.int()).describe('The generated token ids (an ending EOS not included).'),
    finish_reason: finishReasonField,
    usage: usageSchema,
    fluency: z.number().nullable().describe(FLUENCY_DESCRIPTION),
    perplexity: z.number().nullable().describe('exp(−fluency): perplexity of the text under the unsteered model.'),
    kl_to_baseline: z.number().nullable().describe(KL_DESCRIPTION),
    kl_positions: z.int().describe('How many positions kl_to_baseline averages.'),
    time_ms: z.number().describe('From the generation request (queue wait included) to its last token.'),
    time_to_first_token_ms: z.number(),
  })
  .meta({ id: 'CompareSample' });

export type CompareSample = z.infer<typeof compareSampleSchema>;

export const compareArmSchema = z
  .object({
    arm: armNameField,
    steered: z.boolean(),
    user_message: z.string().describe("The arm's last user message as the model saw it."),
    samples: z.array(compareSampleSchema),
    mean: z
      .object({
        fluency: z.number().nullable().describe('Mean of the samples\' fluency (samples without tokens left out).'),
        perplexity: z.number().nullable().describe('exp(−mean fluency).'),
        kl_to_baseline: z.number().nullable(),
        completion_tokens: z.number(),
        tokens_per_second: z.number().describe('All samples\' tokens over their summed time_ms (arms share decode steps).'),
      })
      .describe('Per-arm means over the samples.'),
    usage: usageSchema.describe("The arm's prompt counted once, its samples' tokens summed."),
  })
  .meta({ id: 'CompareArm' });

export type CompareArm = z.infer<typeof compareArmSchema>;

export const compareResponseSchema = z
  .object({
    id: z.string().describe('cmp-...'),
    object: z.literal('compare'),
    created: z.int().describe('Unix time in seconds.'),
    model: z.string(),
    arms: z.array(compareArmSchema),
    usage: usageSchema.describe('All arms together.'),
    steering: steeringField,
  })
  .meta({ id: 'Compare' });

export type CompareResponse = z.infer<typeof compareResponseSchema>;

export const compareChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('compare.chunk'),
    created: z.int(),
    model: z.string(),
    arm: armNameField.nullable().describe('The arm this chunk belongs to; null on the last chunk only.'),
    index: z.int().nullable().describe('The sample within the arm; null on the last chunk only.'),
    delta: z.object({ content: z.string().optional() }),
    finish_reason: finishReasonField.nullable(),
    sample: compareSampleSchema
      .optional()
      .describe("On the chunk that ends a sample (with its finish_reason): the sample with its measures."),
    steering: steeringField.optional().describe('On the first chunk only.'),
    arms: z.array(compareArmSchema).optional().describe('On the last chunk only: every arm with its samples and means.'),
    usage: usageSchema.optional().describe('On the last chunk only.'),
  })
  .meta({ id: 'CompareChunk' });

export type CompareChunk = z.infer<typeof compareChunkSchema>;
