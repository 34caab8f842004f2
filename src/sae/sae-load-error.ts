/**
 * A problem with an SAE on disk, reported as one line that names the file and the offending field (a cfg.json
 * key, a tensor, a labels line), because the person reading it is looking at those files.
 */
export class SaeLoadError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    /** completes the sentence "<field> ..." */
    readonly detail: string,
  ) {
    super(`${file}: ${field} ${detail}`);
    this.name = 'SaeLoadError';
  }
}
