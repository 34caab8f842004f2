/**
 * A steer spec that cannot be applied to this model/SAE. `param` locates the offending field the way the
 * OpenAI error format does (`steer[1].feature`, `steer.vector`, `steer`), so the HTTP layer can answer
 * 400 invalid_request_error with it unchanged.
 */
export class SteerError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
    this.name = 'SteerError';
  }
}
