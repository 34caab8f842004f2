/**
 * Finds SAE features by their labels, for /v1/features/search and for steering by phrase. Labels and queries
 * are cut into words (lower case, plural "s" dropped, stop words ignored); a word counts as much as it is
 * rare among the labels (inverse document frequency), so "ocean" outweighs "text".
 *
 *   coverage = Σ idf of the query's words found in the label / Σ idf of all the query's words
 *   focus    = share of the label's words that are query words (a label about just this scores higher)
 *   score    = coverage · (0.75 + 0.25 · focus)
 *
 * A phrase steers through labels only when some label covers all of its words (coverage 1); the best such
 * label by score (then the lower index) wins.
 */

export interface LabelMatch {
  index: number;
  label: string;
  /** 0..1, see above */
  score: number;
  coverage: number;
}

const STOP_WORDS = new Set(
  ('a an and are as at be by for from has have he her his i in is it its me my of on or our she so that the their them ' +
    'they this to was we were what when which who will with you your about into than then there these those').split(' '),
);

/** The words of a text as the index compares them. */
export function labelWords(text: string): string[] {
  const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).map((w) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
  const content = words.filter((w) => !STOP_WORDS.has(w));
  // a query made only of stop words ("the") still means something
  return content.length > 0 ? content : words;
}

export class LabelIndex {
  /** word → features whose label has it */
  private readonly postings = new Map<string, number[]>();
  private readonly wordCounts = new Map<number, number>();
  readonly size: number;

  constructor(private readonly labels: ReadonlyMap<number, string>) {
    for (const [index, label] of labels) {
      const words = new Set(labelWords(label));
      this.wordCounts.set(index, words.size);
      for (const word of words) {
        const list = this.postings.get(word);
        if (list) list.push(index);
        else this.postings.set(word, [index]);
      }
    }
    this.size = labels.size;
  }

  /** Labels sharing words with the query, best first (score, then coverage, then index). */
  search(query: string, limit: number): LabelMatch[] {
    const words = [...new Set(labelWords(query))];
    if (words.length === 0 || this.size === 0) return [];
    const idf = (word: string) => Math.log((this.size + 1) / ((this.postings.get(word)?.length ?? 0) + 1)) + 1;
    const total = words.reduce((sum, w) => sum + idf(w), 0);
    const matched = new Map<number, { weight: number; words: number }>();
    for (const word of words) {
      const weight = idf(word);
      for (const index of this.postings.get(word) ?? []) {
        const m = matched.get(index);
        if (m) {
          m.weight += weight;
          m.words++;
        } else matched.set(index, { weight, words: 1 });
      }
    }
    const results: LabelMatch[] = [];
    for (const [index, m] of matched) {
      // rounding keeps float noise from deciding between labels that match equally
      const coverage = round(m.weight / total);
      const focus = m.words / Math.max(1, this.wordCounts.get(index)!);
      results.push({ index, label: this.labels.get(index)!, score: round(coverage * (0.75 + 0.25 * focus)), coverage });
    }
    results.sort((a, b) => b.score - a.score || b.coverage - a.coverage || a.index - b.index);
    return results.slice(0, limit);
  }

  /** The feature a steering phrase names: the best label that has every word of the phrase; null when none does. */
  resolvePhrase(phrase: string): LabelMatch | null {
    return this.search(phrase, Number.POSITIVE_INFINITY).find((m) => m.coverage === 1) ?? null;
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
