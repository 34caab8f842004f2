/**
 * Human-readable feature labels kept beside an SAE, one JSON object per line, as Neuronpedia exports its
 * explanations: `{ "index": 12 | "12", "description": "ocean: sea, waves", ...anything else }`. Labels are only
 * shown to users (steering echoes, top features), so rows without a description are skipped rather than fatal,
 * but a row that cannot be read, or names a feature the SAE does not have, is an error: it means the file
 * belongs to another SAE or is damaged, and wrong labels are worse than none.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SaeLoadError } from './sae-load-error.js';

/** Looked for in this order; the first that exists is used. */
export const LABEL_FILE_NAMES = ['labels.jsonl', 'explanations.jsonl'] as const;

/** Loads labels from the first label file in `folder`; an empty map (and file null) when there is none. */
export async function loadFeatureLabels(
  folder: string,
  dSae: number,
): Promise<{ labels: Map<number, string>; file: string | null }> {
  for (const name of LABEL_FILE_NAMES) {
    const file = join(folder, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SaeLoadError(file, 'file', `cannot be read: ${(err as Error).message}`);
    }
    return { labels: parseFeatureLabels(text, file, dSae), file };
  }
  return { labels: new Map(), file: null };
}

export function parseFeatureLabels(text: string, file: string, dSae: number): Map<number, string> {
  const labels = new Map<number, string>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const where = `line ${n + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new SaeLoadError(file, where, 'is not valid JSON');
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new SaeLoadError(file, where, 'is not a JSON object');
    }
    const { index: rawIndex, description, explanation, label } = row as Record<string, unknown>;
    // Neuronpedia writes the index as a string
    const index = typeof rawIndex === 'string' && /^\d+$/.test(rawIndex) ? Number(rawIndex) : rawIndex;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
      throw new SaeLoadError(file, `${where} "index"`, `is ${JSON.stringify(rawIndex)}; expected a feature index`);
    }
    if (index >= dSae) {
      throw new SaeLoadError(file, `${where} "index"`, `is ${index} but the SAE has features 0..${dSae - 1}`);
    }
    const text = [description, explanation, label].find((v): v is string => typeof v === 'string')?.trim();
    // A feature may have several explanations; the first is the one Neuronpedia lists first.
    if (text && !labels.has(index)) labels.set(index, text);
  }
  return labels;
}

/** Writes labels in the same format, sorted by index (atomically, like the weights). */
export async function writeFeatureLabels(file: string, labels: ReadonlyMap<number, string>): Promise<void> {
  const rows = [...labels.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, description]) => JSON.stringify({ index, description }) + '\n');
  const temporary = `${file}.${process.pid}.partial`;
  await writeFile(temporary, rows.join(''));
  await rename(temporary, file);
}
