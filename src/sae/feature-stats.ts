/**
 * Per-feature statistics kept beside an SAE — firing density, max activation, top contexts — and the rarity
 * tier derived from them. The file is JSONL like the labels (labels.ts), one row per feature, with the field
 * names the forge's labels already use, so a labels.jsonl that carries them (the forge writes them) serves as
 * statistics too:
 *
 *   {"index": 12, "density": 0.0031, "max_activation": 7.25,
 *    "top_contexts": [{"text": "the waves hit the [[ boat]] at", "token": " boat", "activation": 7.25}]}
 *
 * In a context's text the feature's token is marked with [[ ]] (as the forge marks it).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LABEL_FILE_NAMES } from './labels.js';
import { SaeLoadError } from './sae-load-error.js';

export const FEATURE_STATS_FILE = 'feature-stats.jsonl';

export interface TopContext {
  /** text around the token, the token marked [[ ]] */
  text: string;
  token: string;
  activation: number;
}

export interface FeatureStatsRow {
  index: number;
  /** share of corpus tokens (BOS excluded) on which the feature fires */
  density: number;
  max_activation: number;
  top_contexts: TopContext[];
}

/**
 * Stargazer's tiers, from the feature's density percentile among live features where rarer is higher:
 * the share of live features that fire more often than it. Below 35 % common, below 45 % rare, below 60 %
 * ultra, else legendary.
 */
export type RarityTier = 'common' | 'rare' | 'ultra' | 'legendary';
export const RARITY_TIERS: readonly RarityTier[] = ['common', 'rare', 'ultra', 'legendary'];

export function rarityTier(percentile: number): RarityTier {
  if (percentile < 0.35) return 'common';
  if (percentile < 0.45) return 'rare';
  if (percentile < 0.6) return 'ultra';
  return 'legendary';
}

export class FeatureStats {
  /** per feature: NaN where the file has no row for it */
  private readonly densities: Float64Array;
  private readonly maxActivations: Float64Array;
  private readonly contexts: (TopContext[] | undefined)[];
  private readonly percentiles: Float64Array;

  constructor(
    readonly dSae: number,
    rows: Iterable<FeatureStatsRow>,
  ) {
    this.densities = new Float64Array(dSae).fill(NaN);
    this.maxActivations = new Float64Array(dSae).fill(NaN);
    this.contexts = new Array(dSae);
    for (const row of rows) {
      this.densities[row.index] = row.density;
      this.maxActivations[row.index] = row.max_activation;
      this.contexts[row.index] = row.top_contexts;
    }
    // percentile = share of live features strictly denser; features that never fired are the rarest of all
    const live = Array.from(this.densities).filter((d) => d > 0).sort((a, b) => b - a);
    this.percentiles = this.densities.map((d) => {
      if (!(d > 0)) return 1;
      let lo = 0;
      let hi = live.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (live[mid]! > d) lo = mid + 1;
        else hi = mid;
      }
      return lo / live.length;
    });
  }

  has(f: number): boolean {
    return !Number.isNaN(this.densities[f] ?? NaN);
  }

  density(f: number): number | null {
    return this.has(f) ? this.densities[f]! : null;
  }

  maxActivation(f: number): number | null {
    return this.has(f) ? this.maxActivations[f]! : null;
  }

  topContexts(f: number): TopContext[] {
    return this.contexts[f] ?? [];
  }

  /** 0 for the most common live feature, towards 1 for the rarest; null without statistics for f */
  percentile(f: number): number | null {
    return this.has(f) ? this.percentiles[f]! : null;
  }

  rarity(f: number): RarityTier | null {
    const p = this.percentile(f);
    return p === null ? null : rarityTier(p);
  }
}

/**
 * The statistics beside an SAE: feature-stats.jsonl, else the statistics fields of its label file; null when
 * neither has any. A row that cannot be read is an error naming the file and line, as for labels.
 */
export async function loadFeatureStats(folder: string, dSae: number): Promise<{ stats: FeatureStats; file: string } | null> {
  for (const name of [FEATURE_STATS_FILE, ...LABEL_FILE_NAMES]) {
    const file = join(folder, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new SaeLoadError(file, 'file', `cannot be read: ${(err as Error).message}`);
    }
    const rows = parseFeatureStats(text, file, dSae);
    if (rows.length > 0) return { stats: new FeatureStats(dSae, rows), file };
    // a label file without statistics: keep looking (explanations.jsonl after labels.jsonl)
    if (name === FEATURE_STATS_FILE) throw new SaeLoadError(file, 'file', 'holds no statistics rows');
  }
  return null;
}

/** Rows with a density; rows without one (plain labels) are skipped, malformed values are errors. */
export function parseFeatureStats(text: string, file: string, dSae: number): FeatureStatsRow[] {
  const rows: FeatureStatsRow[] = [];
  const seen = new Set<number>();
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `line ${n + 1}`;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new SaeLoadError(file, where, 'is not valid JSON');
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new SaeLoadError(file, where, 'is not a JSON object');
    if (row.density === undefined) return;
    const index = typeof row.index === 'string' && /^\d+$/.test(row.index) ? Number(row.index) : row.index;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= dSae) {
      throw new SaeLoadError(file, `${where} "index"`, `is ${JSON.stringify(row.index)}; expected a feature index in 0..${dSae - 1}`);
    }
    const number = (key: string, value: unknown): number => {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new SaeLoadError(file, `${where} "${key}"`, `is ${JSON.stringify(value)}; expected a number >= 0`);
      }
      return value;
    };
    const density = number('density', row.density);
    if (density > 1) throw new SaeLoadError(file, `${where} "density"`, `is ${density}; expected a share of tokens in 0..1`);
    const contexts = row.top_contexts ?? [];
    if (!Array.isArray(contexts)) throw new SaeLoadError(file, `${where} "top_contexts"`, 'is not a list');
    const topContexts = contexts.map((c: unknown, i): TopContext => {
      const ctx = c as Record<string, unknown>;
      if (typeof ctx !== 'object' || ctx === null || typeof ctx.text !== 'string') {
        throw new SaeLoadError(file, `${where} "top_contexts[${i}]"`, 'needs a "text" string');
      }
      // the forge's rows mark the token in the text but do not repeat it
      const token = typeof ctx.token === 'string' ? ctx.token : (/\[\[(.*?)\]\]/s.exec(ctx.text)?.[1] ?? '');
      return { text: ctx.text, token, activation: number(`top_contexts[${i}].activation`, ctx.activation) };
    });
    if (seen.has(index)) return; // as for labels: the first row for a feature wins
    seen.add(index);
    rows.push({ index, density, max_activation: number('max_activation', row.max_activation ?? 0), top_contexts: topContexts });
  });
  return rows;
}

/** Writes rows sorted by index, atomically (temporary file + rename). */
export async function writeFeatureStats(file: string, rows: readonly FeatureStatsRow[]): Promise<void> {
  const lines = [...rows].sort((a, b) => a.index - b.index).map((row) => JSON.stringify(row) + '\n');
  const temporary = `${file}.${process.pid}.partial`;
  await writeFile(temporary, lines.join(''));
  await rename(temporary, file);
}
