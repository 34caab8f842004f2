/** The one error body every endpoint returns, in OpenAI's shape. */
import { z } from 'zod';

export const errorResponseSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z
        .string()
        .describe('invalid_request_error, not_found_error, rate_limit_error, unavailable_error or server_error'),
      param: z.string().nullable().describe('The request field at fault, e.g. messages[0].content or steer[1].feature.'),
      code: z.string().nullable().describe('e.g. context_length_exceeded, model_not_found, invalid_api_key'),
    }),
  })
  .meta({ id: 'Error' });

export type ErrorResponse = z.infer<typeof errorResponseSchema>;
export type ErrorDetail = ErrorResponse['error'];

/** Response schemas for the error statuses an inference endpoint can return. */
export const inferenceErrorResponses = {
  400: errorResponseSchema.describe('Invalid request: bad field, bad steering, or the prompt exceeds the context.'),
  401: errorResponseSchema.describe('Missing or wrong API key (only when the server has keys).'),
  404: errorResponseSchema.describe('Unknown model.'),
  413: errorResponseSchema.describe('Request body over the size limit.'),
  429: errorResponseSchema.describe('The request queue is full; retry after the Retry-After header.'),
  500: errorResponseSchema.describe('Internal error (details are in the server log).'),
  503: errorResponseSchema.describe('The model is still loading.'),
};
