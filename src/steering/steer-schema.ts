/**
 * The request field `steer`: a phrase, one steering item, or a list of items. Plain zod (no transforms or
 * defaults) so the HTTP layer can embed it and generate OpenAPI from it; defaults are applied, and the list is
 * normalised, by the resolver (resolve.ts), which also checks what depends on the model (layer range, vector
 * length, feature range).
 */
import { z } from 'zod';

/** Applied by the resolver when an add item has no strength: half the typical residual norm at that layer. */
export const DEFAULT_ADD_STRENGTH = 0.5;
/** Bounds strength and clamp values so that strength × residual norm stays far inside float32. */
export const MAX_STRENGTH = 10_000;
export const MAX_STEER_ITEMS = 16;
export const MAX_PHRASE_CHARS = 1_000;
export const MAX_VECTOR_LENGTH = 65_536;

const phrase = z
  .string()
  .min(1)
  .max(MAX_PHRASE_CHARS)
  .describe(
    'Steer towards a concept given as text: the direction is the mean residual over the phrase minus the mean over a neutral text (activation addition).',
  );

export const steerItemSchema = z
  .strictObject({
    phrase: phrase.optional(),
    feature: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("Index of a feature of the server's SAE; its decoder direction is used (add) or its activation pinned (clamp)."),
    vector: z
      .array(z.number())
      .min(1)
      .max(MAX_VECTOR_LENGTH)
      .optional()
      .describe("A raw direction of the model's width (n_embd); it is normalised, so only its direction matters."),
    strength: z
      .number()
      .min(-MAX_STRENGTH)
      .max(MAX_STRENGTH)
      .optional()
      .describe(
        `add: the added vector's norm as a multiple of the mean residual norm at the layer (default ${DEFAULT_ADD_STRENGTH}; ` +
          'negative steers away; 0 disables the item). clamp: required, the activation to pin the feature at, in SAE units, >= 0 (0 ablates the feature).',
      ),
    mode: z
      .enum(['add', 'clamp'])
      .optional()
      .describe('add (default): add the direction to the residual stream. clamp: pin an SAE feature\'s activation to `strength` (features only).'),
    layer: z
      .number()
      .int()
      .nonnegative()
      .optional()
      .describe("The block whose output is steered (0-based). Defaults to the SAE's layer when the server has one, else the server's default layer; features must use the SAE's layer."),
    apply_to: z
      .enum(['all', 'prompt', 'generation'])
      .optional()
      .describe('Which positions are steered: all (default), only the prompt, or only generated tokens.'),
  })
  .superRefine((item, ctx) => {
    const given = (['phrase', 'feature', 'vector'] as const).filter((key) => item[key] !== undefined);
    if (given.length !== 1) {
      // No path: the issue points at the item itself (steer[1]), since no single field is wrong.
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? 'a steering item needs one of phrase, feature or vector'
            : `a steering item takes exactly one of phrase, feature or vector (got ${given.join(' and ')})`,
      });
    }
    if (item.mode === 'clamp') {
      if (item.feature === undefined && given.length === 1) {
        ctx.addIssue({ code: 'custom', path: ['mode'], message: 'clamp applies to SAE features only; use mode "add" for a phrase or vector' });
      }
      if (item.strength === undefined) {
        ctx.addIssue({ code: 'custom', path: ['strength'], message: 'clamp needs a strength: the activation to pin the feature at, in SAE units' });
      } else if (item.strength < 0) {
        ctx.addIssue({ code: 'custom', path: ['strength'], message: 'a clamp value must be >= 0 (SAE activations are never negative)' });
      }
    }
  })
  .describe('One steering intervention: exactly one of phrase, feature or vector, with optional strength, mode, layer and apply_to.');

export const steerSchema = z
  .union([phrase, steerItemSchema, z.array(steerItemSchema).max(MAX_STEER_ITEMS)])
  .describe(
    'Steer the model from the inside for this request: a phrase (shorthand for {"phrase": ...}), one item, or a list of items applied together. ' +
      'An empty list or strength 0 leaves the output exactly unsteered. The response echoes what was applied under `steering`.',
  );

export type SteerItem = z.infer<typeof steerItemSchema>;
export type SteerSpec = z.infer<typeof steerSchema>;

/**
 * zod reports any failure inside a union as a single `invalid_union` issue at the union itself, so a bad
 * `steer[1].feature` would surface as "steer: Invalid input". The branches of `steer` differ by JSON type
 * (string, object, array), so at most one got past its type check: this returns that branch's issues with
 * full paths, recursively, and leaves other issues as they are. For the HTTP layer's error mapping.
 */
export function narrowUnionIssues(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || !('errors' in issue) || !Array.isArray(issue.errors)) return [issue];
    const typeMismatch = (branch: readonly z.core.$ZodIssue[]): boolean =>
      branch.length > 0 && branch.every((i) => i.code === 'invalid_type' && i.path.length === 0);
    const candidates = issue.errors.filter((branch) => !typeMismatch(branch));
    if (candidates.length !== 1) return [issue];
    return narrowUnionIssues(candidates[0]!.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })));
  });
}

/** `['steer', 1, 'feature']` → `steer[1].feature`, the OpenAI-style `param`. */
export function issuePathToParam(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out === '' ? String(key) : `${out}.${String(key)}`), '');
}
