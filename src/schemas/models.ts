/** GET /v1/models and GET /v1/models/{model}: OpenAI's model object plus what a steering client needs to know. */
import { z } from 'zod';

export const saeInfoSchema = z
  .object({
    path: z.string().describe('The SAE file the server loaded.'),
    d_sae: z.int().describe('Number of SAE features.'),
    layer: z.int().describe('The block whose residual stream the SAE reads and writes.'),
    labels: z.record(z.string(), z.string()).describe('Feature index → human-readable label, where known.'),
  })
  .meta({ id: 'SaeInfo' });

export const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.int().describe('Unix time in seconds when the server loaded the model.'),
    owned_by: z.string(),
    // steerd extensions
    n_layer: z.int(),
    n_embd: z.int().describe('Width of the residual stream: the length a raw steering vector must have.'),
    n_ctx_per_sequence: z.int().describe('The most tokens (prompt + output) one request may hold.'),
    steer_layer: z.int().describe('The layer a steering item uses when it names none.'),
    mean_residual_norm: z
      .number()
      .describe('Mean L2 norm of the residual stream at steer_layer; steering strengths are relative to it.'),
    sae: saeInfoSchema.nullable().describe('The sparse autoencoder loaded with --sae, or null.'),
  })
  .meta({ id: 'Model' });

export type ModelObject = z.infer<typeof modelSchema>;

export const modelListSchema = z
  .object({ object: z.literal('list'), data: z.array(modelSchema) })
  .meta({ id: 'ModelList' });

export const modelParamsSchema = z.strictObject({ model: z.string().describe('A model id from GET /v1/models.') });
