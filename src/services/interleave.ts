/**
 * Several generations (n > 1, or several prompts) running at once, read as one sequence of updates in the
 * order their tokens arrive, so a stream can forward each token as soon as it exists.
 */
import type { Generation, GenerationResult, TokenEvent } from '../engine/types.js';

export interface Choice {
  /** the choice's index in the response */
  index: number;
  generation: Generation;
}

export type ChoiceUpdate =
  | { index: number; event: TokenEvent; result?: undefined }
  | { index: number; result: GenerationResult; event?: undefined };

type Pulled = { slot: number; next: IteratorResult<TokenEvent> } | { slot: number; error: unknown };

/**
 * Yields every token event of every choice as it comes, then each choice's result right after its last event.
 * A generation that fails makes the whole sequence throw; the caller aborts the others.
 */
export async function* interleave(choices: readonly Choice[]): AsyncGenerator<ChoiceUpdate> {
  const iterators = choices.map((choice) => choice.generation[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<Pulled>>();
  // settled promises only (errors as values): a rejection nobody awaits yet must not become "unhandled"
  const pull = (slot: number) =>
    pending.set(
      slot,
      iterators[slot]!.next().then(
        (next) => ({ slot, next }),
        (error: unknown) => ({ slot, error }),
      ),
    );
  choices.forEach((_, slot) => pull(slot));

  while (pending.size > 0) {
    const pulled = await Promise.race(pending.values());
    const { index, generation } = choices[pulled.slot]!;
    if ('error' in pulled) throw pulled.error;
    if (pulled.next.done) {
      pending.delete(pulled.slot);
      yield { index, result: await generation.result };
    } else {
      pull(pulled.slot);
      yield { index, event: pulled.next.value };
    }
  }
}
