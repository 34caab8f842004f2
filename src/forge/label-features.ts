/**
 * Labels SAE features from the corpus: the tokens that make each fire, its strongest contexts, and the concept
 * it belongs to ("ocean: sea, waves, boat"): the concept whose words carry most of its activation (a feature
 * of the word "waves"), or whose stories do (a feature of "this story is about the sea", which fires on every
 * token of such stories, ocean words or not). Rows are Neuronpedia-shaped
 * (`index`, `description`) plus our statistics, so real Neuronpedia exports can replace them for real SAEs.
 */
import type { Sae } from '../sae/sae.js';

export interface FeatureLabel {
  index: number;
  description: string;
  concept: string | null;
  /** share of the feature's activation mass on that concept's words */
  concept_score: number;
  /** share of the feature's activation mass in documents about that concept */
  document_score: number;
  /** share of tokens on which the feature fires */
  density: number;
  max_activation: number;
  top_tokens: { token: string; activation: number; count: number }[];
  top_contexts: { text: string; activation: number }[];
}

export interface LabelInput {
  sae: Sae;
  /** n × dIn residual rows at the SAE's layer */
  rows: Float32Array;
  /** the token at each row */
  tokens: Int32Array;
  tokenText: (token: number) => string;
  /** the concepts a token's word belongs to (empty for most tokens) */
  tokenConcepts: (token: number) => readonly string[];
  /** a short text around row i, the row's token marked */
  context: (row: number) => string;
  /** the concepts of the document row i comes from */
  rowConcepts?: (row: number) => readonly string[];
  /** a concept's words must carry at least this share of the activation to name the feature */
  minConceptScore?: number;
  /** or its documents at least this share (documents have one to three concepts, so a feature that fires
   * everywhere has about 1/16 of its mass in any one concept's documents) */
  minDocumentScore?: number;
}

const CHUNK_ROWS = 1024;
const TOP_CONTEXTS = 5;

export function labelFeatures(input: LabelInput): FeatureLabel[] {
  const { sae, rows, tokens } = input;
  const n = tokens.length;
  const count = new Float64Array(sae.dSae);
  const mass = new Float64Array(sae.dSae);
  const max = new Float64Array(sae.dSae);
  const byToken = Array.from({ length: sae.dSae }, () => new Map<number, { sum: number; count: number }>());
  const best = Array.from({ length: sae.dSae }, () => [] as { row: number; activation: number }[]);
  const byDocumentConcept = Array.from({ length: sae.dSae }, () => new Map<string, number>());

  for (let start = 0; start < n; start += CHUNK_ROWS) {
    const m = Math.min(CHUNK_ROWS, n - start);
    const acts = sae.encode(rows.subarray(start * sae.dIn, (start + m) * sae.dIn), m);
    for (let r = 0; r < m; r++) {
      const row = start + r;
      const token = tokens[row]!;
      const base = r * sae.dSae;
      for (let f = 0; f < sae.dSae; f++) {
        const a = acts[base + f]!;
        if (a <= 0) continue;
        count[f]!++;
        mass[f]! += a;
        if (a > max[f]!) max[f] = a;
        const t = byToken[f]!.get(token);
        if (t) { t.sum += a; t.count++; } else byToken[f]!.set(token, { sum: a, count: 1 });
        for (const concept of input.rowConcepts?.(row) ?? []) {
          byDocumentConcept[f]!.set(concept, (byDocumentConcept[f]!.get(concept) ?? 0) + a);
        }
        const top = best[f]!;
        if (top.length < TOP_CONTEXTS || a > top[top.length - 1]!.activation) {
          top.push({ row, activation: a });
          top.sort((x, y) => y.activation - x.activation);
          if (top.length > TOP_CONTEXTS) top.pop();
        }
      }
    }
  }

  const minWordScore = input.minConceptScore ?? 0.3;
  const minDocumentScore = input.minDocumentScore ?? 0.6;
  return Array.from({ length: sae.dSae }, (_, f): FeatureLabel => {
    const tokensRanked = [...byToken[f]!.entries()].sort((a, b) => b[1].sum - a[1].sum);
    const wordMass = new Map<string, number>();
    for (const [token, { sum }] of tokensRanked) {
      for (const concept of input.tokenConcepts(token)) wordMass.set(concept, (wordMass.get(concept) ?? 0) + sum);
    }
    const share = (m: number | undefined) => (mass[f]! > 0 ? (m ?? 0) / mass[f]! : 0);
    // each concept's strength relative to its threshold; the strongest names the feature if it reaches 1
    const concepts = new Set([...wordMass.keys(), ...byDocumentConcept[f]!.keys()]);
    let concept: string | null = null;
    let strength = 0;
    for (const c of concepts) {
      const s = Math.max(share(wordMass.get(c)) / minWordScore, share(byDocumentConcept[f]!.get(c)) / minDocumentScore);
      if (s > strength) [concept, strength] = [c, s];
    }
    const conceptScore = concept ? share(wordMass.get(concept)) : 0;
    const documentScore = concept ? share(byDocumentConcept[f]!.get(concept)) : 0;
    const topTokens = tokensRanked.slice(0, 8).map(([token, { sum, count: c }]) => ({
      token: input.tokenText(token),
      activation: Number((sum / c).toFixed(3)),
      count: c,
    }));
    // whitespace-only tokens are shown quoted so that no live feature ends up with an empty description
    const words = [...new Set(topTokens.map((t) => t.token.trim() || JSON.stringify(t.token)))].slice(0, 4);
    const named = concept !== null && strength >= 1;
    const description =
      mass[f] === 0 ? 'dead feature (never fired on the corpus)' : named ? `${concept}: ${words.join(', ')}` : words.join(', ');
    return {
      index: f,
      description,
      concept: named ? concept : null,
      concept_score: Number(conceptScore.toFixed(3)),
      document_score: Number(documentScore.toFixed(3)),
      density: count[f]! / n,
      max_activation: Number(max[f]!.toFixed(3)),
      top_tokens: topTokens,
      top_contexts: best[f]!.map(({ row, activation }) => ({ text: input.context(row), activation: Number(activation.toFixed(3)) })),
    };
  });
}
