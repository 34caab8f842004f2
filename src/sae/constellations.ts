/**
 * Constellations: groups of SAE features that fire together across a text. Deliberately simple, so a user can
 * check any group by eye:
 *
 *  1. each feature's positions are the tokens where it is among that token's top features;
 *  2. features seen at 2+ positions are candidates (the 64 with the most total activation);
 *  3. two candidates are linked when they share 2+ positions and at least half of the positions either has
 *     (Jaccard ≥ 0.5);
 *  4. a constellation is a connected group of 2+ linked features; its positions are the tokens where at least
 *     two of its members fire, and its strength the members' summed activation per such position;
 *  5. its name is the word most of its members' labels share (two, when two words tie), else the label of its
 *     strongest member, else its feature indices.
 */
import { labelWords } from './label-search.js';

export interface PositionFeatures {
  position: number;
  features: readonly { index: number; activation: number }[];
}

export interface Constellation {
  id: string;
  name: string;
  /** strongest first */
  features: number[];
  positions: number[];
  strength: number;
}

const MAX_CANDIDATES = 64;
const MIN_JACCARD = 0.5;
const MAX_CONSTELLATIONS = 12;

export function findConstellations(
  tokens: readonly PositionFeatures[],
  label: (index: number) => string | undefined,
): Constellation[] {
  const seen = new Map<number, { positions: Map<number, number>; total: number }>();
  for (const { position, features } of tokens) {
    for (const { index, activation } of features) {
      let entry = seen.get(index);
      if (!entry) seen.set(index, (entry = { positions: new Map(), total: 0 }));
      entry.positions.set(position, activation);
      entry.total += activation;
    }
  }
  const candidates = [...seen.entries()]
    .filter(([, e]) => e.positions.size >= 2)
    .sort((a, b) => b[1].total - a[1].total || a[0] - b[0])
    .slice(0, MAX_CANDIDATES);

  const parent = candidates.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let a = 0; a < candidates.length; a++) {
    for (let b = a + 1; b < candidates.length; b++) {
      const pa = candidates[a]![1].positions;
      const pb = candidates[b]![1].positions;
      let shared = 0;
      for (const p of pa.keys()) if (pb.has(p)) shared++;
      if (shared >= 2 && shared / (pa.size + pb.size - shared) >= MIN_JACCARD) parent[root(a)] = root(b);
    }
  }
  const groups = new Map<number, number[]>();
  candidates.forEach((_, i) => groups.set(root(i), [...(groups.get(root(i)) ?? []), i]));

  const found: Omit<Constellation, 'id'>[] = [];
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    // members are in candidate order: strongest first
    const features = members.map((i) => candidates[i]![0]);
    const byPosition = new Map<number, { count: number; sum: number }>();
    for (const i of members) {
      for (const [p, activation] of candidates[i]![1].positions) {
        const at = byPosition.get(p) ?? { count: 0, sum: 0 };
        at.count++;
        at.sum += activation;
        byPosition.set(p, at);
      }
    }
    const together = [...byPosition.entries()].filter(([, at]) => at.count >= 2).sort((a, b) => a[0] - b[0]);
    if (together.length === 0) continue;
    const strength = together.reduce((sum, [, at]) => sum + at.sum, 0) / together.length;
    found.push({ name: constellationName(features, label), features, positions: together.map(([p]) => p), strength: Number(strength.toFixed(4)) });
  }
  return found
    .sort((a, b) => b.strength - a.strength || a.features[0]! - b.features[0]!)
    .slice(0, MAX_CONSTELLATIONS)
    .map((c, i) => ({ id: `c${i + 1}`, ...c }));
}

/** See step 5 above. */
export function constellationName(features: readonly number[], label: (index: number) => string | undefined): string {
  const labels = features.map(label).filter((l): l is string => l !== undefined && l.trim() !== '');
  const counts = new Map<string, number>();
  for (const l of labels) for (const w of new Set(labelWords(l))) counts.set(w, (counts.get(w) ?? 0) + 1);
  const ranked = [...counts.entries()].filter(([, n]) => n >= 2 && n * 2 >= labels.length).sort((a, b) => b[1] - a[1]);
  if (ranked.length > 0) {
    const top = ranked.filter(([, n]) => n === ranked[0]![1]).slice(0, 2);
    return top.map(([w]) => w).join(' · ');
  }
  if (labels.length > 0) return labels[0]!;
  return `features ${features.join(', ')}`;
}
