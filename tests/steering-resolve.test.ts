import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AddIntervention, ClampIntervention } from '../src/engine/types.js';
import { Sae } from '../src/sae/sae.js';
import { Lru } from '../src/steering/lru.js';
import { measureMeanNorms, NEUTRAL_TEXT } from '../src/steering/mean-norms.js';
import { PhraseVectors } from '../src/steering/phrase-vectors.js';
import type { ResidualSource } from '../src/steering/residual-source.js';
import { SteerError, SteeringResolver } from '../src/steering/resolve.js';
import { DEFAULT_ADD_STRENGTH, issuePathToParam, narrowUnionIssues, steerSchema, type SteerSpec } from '../src/steering/steer-schema.js';

const N_LAYER = 4;
const N_EMBD = 6;
const BOS = 1;

/** Deterministic made-up residuals; BOS rows are 50× larger, as attention sinks are, so skipping them shows. */
function residualRow(token: number, position: number, layer: number): number[] {
  const scale = (token === BOS ? 50 : 1) * (layer + 1);
  return Array.from({ length: N_EMBD }, (_, i) => scale * Math.sin(token * 0.37 + i * 1.3 + position * 0.11 + layer));
}

class FakeSource implements ResidualSource {
  readonly info = { nLayer: N_LAYER, nEmbd: N_EMBD, bos: BOS };
  readonly captures: Array<{ tokens: number[]; layers: number[] }> = [];

  tokenize(text: string, opts?: { addSpecial?: boolean }): number[] {
    const words = text.split(/\s+/).filter(Boolean).map((w) => 2 + ([...w].reduce((h, c) => h * 31 + c.charCodeAt(0), 7) % 997));
    return opts?.addSpecial ? [BOS, ...words] : words;
  }

  async captureResiduals(tokens: readonly number[], layers: readonly number[]): Promise<Float32Array[]> {
    this.captures.push({ tokens: [...tokens], layers: [...layers] });
    await new Promise((resolve) => setTimeout(resolve, 1));
    return layers.map((layer) => Float32Array.from(tokens.flatMap((t, p) => residualRow(t, p, layer))));
  }

  capturesOf(text: string): number {
    const key = this.tokenize(text, { addSpecial: true }).join();
    return this.captures.filter((c) => c.tokens.join() === key).length;
  }
}

/** Reference: mean residual (BOS skipped) of a text at a layer, in float64. */
function referenceMean(source: FakeSource, text: string, layer: number): number[] {
  const tokens = source.tokenize(text, { addSpecial: true });
  const sum = new Array<number>(N_EMBD).fill(0);
  tokens.forEach((t, p) => p > 0 && residualRow(t, p, layer).forEach((v, i) => (sum[i]! += v)));
  return sum.map((s) => s / (tokens.length - 1));
}

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
function expectScaledDirection(actual: Float32Array, direction: ArrayLike<number>, expectedNorm: number): void {
  const unit = Array.from(direction).map((d) => d / norm(direction));
  Array.from(actual).forEach((v, i) => expect(v).toBeCloseTo(unit[i]! * expectedNorm, 4));
}

const MEAN_NORMS = Float32Array.from([2, 3, 5, 7]);
const D_SAE = 10;
function testSae(): Sae {
  let seed = 3;
  const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  const array = (n: number) => Float32Array.from({ length: n }, next);
  return new Sae({
    architecture: 'jumprelu', dIn: N_EMBD, dSae: D_SAE, wEnc: array(D_SAE * N_EMBD), wDec: array(D_SAE * N_EMBD),
    bEnc: array(D_SAE), bDec: array(N_EMBD), threshold: array(D_SAE).map(Math.abs), hookLayer: 2,
    labels: new Map([[4, 'the letter four']]),
  });
}
function resolver(options: { sae?: Sae; source?: FakeSource } = {}) {
  const source = options.source ?? new FakeSource();
  return { source, resolver: new SteeringResolver({ source, meanNorms: MEAN_NORMS, defaultLayer: 1, sae: options.sae }) };
}

async function steerError(promise: Promise<unknown>): Promise<SteerError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(SteerError);
  return err as SteerError;
}

describe('measureMeanNorms', () => {
  it('is the mean row norm per layer with the BOS row skipped', async () => {
    const source = new FakeSource();
    const norms = await measureMeanNorms(source, 'a few neutral words here');
    const tokens = source.tokenize('a few neutral words here', { addSpecial: true });
    for (let layer = 0; layer < N_LAYER; layer++) {
      const expected = tokens.slice(1).reduce((s, t, p) => s + norm(residualRow(t, p + 1, layer)), 0) / (tokens.length - 1);
      expect(norms[layer]).toBeCloseTo(expected, 5);
    }
  });
});

describe('SteeringResolver: add', () => {
  it('a raw vector: strength × mean norm × unit direction, at the default layer, echoed', async () => {
    const { resolver: r } = resolver();
    const vector = [3, 0, 4, 0, 0, 0];
    const { interventions, steering } = await r.resolve({ vector, strength: -2, apply_to: 'generation' });
    expect(interventions).toHaveLength(1);
    const add = interventions[0] as AddIntervention;
    expect([add.kind, add.layer, add.applyTo]).toEqual(['add', 1, 'generation']);
    expectScaledDirection(add.vector, vector.map((v) => -v), 2 * MEAN_NORMS[1]!);
    expect(steering).toEqual([{ source: 'vector', mode: 'add', layer: 1, strength: -2, apply_to: 'generation', vector_norm: 6 }]);
  });

  it('a phrase: mean over its tokens minus the neutral baseline mean; cached across requests and concurrent calls', async () => {
    const { source, resolver: r } = resolver();
    const [a, b] = await Promise.all([r.resolve('ocean waves'), r.resolve([{ phrase: 'ocean waves', layer: 3 }])]);
    const again = await r.resolve({ phrase: 'ocean waves', strength: 1.5 });
    for (const [result, layer, strength] of [[a, 1, DEFAULT_ADD_STRENGTH], [b, 3, DEFAULT_ADD_STRENGTH], [again, 1, 1.5]] as const) {
      const expected = referenceMean(source, 'ocean waves', layer).map((v, i) => v - referenceMean(source, NEUTRAL_TEXT, layer)[i]!);
      expectScaledDirection((result.interventions[0] as AddIntervention).vector, expected, strength * MEAN_NORMS[layer]!);
      expect(result.steering[0]).toEqual({
        source: 'phrase', phrase: 'ocean waves', phrase_method: 'activation_addition', mode: 'add', layer, strength, apply_to: 'all',
        vector_norm: strength * MEAN_NORMS[layer]!,
      });
    }
    // layers 1 and 3 were each captured once, for the phrase and for the baseline
    expect(source.capturesOf('ocean waves')).toBe(2);
    expect(source.capturesOf(NEUTRAL_TEXT)).toBe(2);
  });

  it('an SAE feature: its decoder direction, at the SAE layer by default, with its label', async () => {
    const sae = testSae();
    const { resolver: r } = resolver({ sae });
    const { interventions, steering } = await r.resolve([{ feature: 4, strength: 3 }]);
    const add = interventions[0] as AddIntervention;
    expect(add.layer).toBe(2);
    expectScaledDirection(add.vector, sae.decoderRow(4), 3 * MEAN_NORMS[2]!);
    expect(steering).toEqual([{ source: 'feature', feature: 4, label: 'the letter four', mode: 'add', layer: 2, strength: 3, apply_to: 'all', vector_norm: 15 }]);
  });

  it('with an SAE, a phrase reports its top 5 features (from its mean residual at the SAE layer), labelled', async () => {
    const sae = testSae();
    const { source, resolver: r } = resolver({ sae });
    const { steering } = await r.resolve({ phrase: 'red apples', layer: 0 });
    const expected = sae.topFeatures(Float32Array.from(referenceMean(source, 'red apples', 2)), 5);
    expect(expected.length).toBeGreaterThan(0);
    const top = steering[0]!.top_features!;
    expect(top.map((f) => f.index)).toEqual(expected.map((f) => f.index));
    top.forEach((f, i) => expect(f.activation).toBeCloseTo(expected[i]!.activation, 4));
    expect(top.every((f) => (f.index === 4 ? f.label === 'the letter four' : !('label' in f)))).toBe(true);
    // the steered layer and the SAE layer came from one capture
    expect(source.captures.filter((c) => c.layers.join() === '0,2')).toHaveLength(1);
    expect(JSON.parse(JSON.stringify(steering))).toEqual(steering);
  });

  it('strength 0 and empty lists add nothing and touch no model, but are echoed', async () => {
    const { source, resolver: r } = resolver({ sae: testSae() });
    expect(await r.resolve(undefined)).toEqual({ interventions: [], steering: [] });
    expect(await r.resolve([])).toEqual({ interventions: [], steering: [] });
    const { interventions, steering } = await r.resolve([{ phrase: 'calm', strength: 0 }, { feature: 1, strength: 0 }]);
    expect(interventions).toEqual([]);
    expect(steering.map((s) => [s.source, s.strength, s.vector_norm])).toEqual([['phrase', 0, 0], ['feature', 0, 0]]);
    expect(source.captures).toEqual([]);
  });
});

describe('SteeringResolver: clamp', () => {
  it("pins a feature with the SAE's clamp parameters; 0 is an ablation, not a no-op", async () => {
    const sae = testSae();
    const { resolver: r } = resolver({ sae });
    const { interventions, steering } = await r.resolve([{ feature: 7, mode: 'clamp', strength: 12.5, apply_to: 'prompt' }, { feature: 2, mode: 'clamp', strength: 0 }]);
    const expected: ClampIntervention = { kind: 'clamp', layer: 2, applyTo: 'prompt', ...sae.clampParams(7), decoder: sae.decoderRow(7), value: 12.5 };
    expect(interventions[0]).toEqual(expected);
    expect((interventions[1] as ClampIntervention).value).toBe(0);
    expect(steering[0]).toEqual({ source: 'feature', feature: 7, mode: 'clamp', layer: 2, strength: 12.5, apply_to: 'prompt', vector_norm: null });
  });
});

describe('SteerError params', () => {
  const cases: Array<[string, SteerSpec, string, boolean]> = [
    ['exactly one source', [{ phrase: 'x' }, { phrase: 'y', feature: 1 }], 'steer[1]', true],
    ['no source', {}, 'steer', true],
    ['feature out of range', [{ feature: D_SAE }], 'steer[0].feature', true],
    ['feature without an SAE', { feature: 1 }, 'steer.feature', false],
    ['vector of the wrong length', [{ phrase: 'x' }, { vector: [1, 2, 3] }], 'steer[1].vector', false],
    ['zero vector', { vector: [0, 0, 0, 0, 0, 0] }, 'steer.vector', false],
    ['non-finite vector', { vector: [1, 0, 0, 0, 0, Infinity] }, 'steer.vector', false],
    ['layer out of range', [{ phrase: 'a' }, { phrase: 'b' }, { phrase: 'c', layer: N_LAYER }], 'steer[2].layer', false],
    ['SAE layer mismatch', { feature: 1, layer: 1 }, 'steer.layer', true],
    ['clamp on a phrase', [{ phrase: 'x' }, { phrase: 'y', mode: 'clamp', strength: 1 }], 'steer[1].mode', true],
    ['clamp on a vector', { vector: [1, 0, 0, 0, 0, 0], mode: 'clamp', strength: 1 }, 'steer.mode', true],
    ['clamp without an SAE', { feature: 1, mode: 'clamp', strength: 1 }, 'steer.mode', false],
    ['clamp without strength', { feature: 1, mode: 'clamp' }, 'steer.strength', true],
    ['negative clamp', { feature: 1, mode: 'clamp', strength: -1 }, 'steer.strength', true],
    ['infinite strength', { phrase: 'x', strength: Infinity }, 'steer.strength', false],
    ['a bare phrase with no tokens', '   ', 'steer', false],
    ['a phrase with no tokens', [{ phrase: ' ' }], 'steer[0].phrase', false],
  ];
  for (const [name, spec, param, withSae] of cases) {
    it(`${name} → ${param}`, async () => {
      const { resolver: r } = resolver(withSae ? { sae: testSae() } : {});
      const err = await steerError(r.resolve(spec));
      expect(err.param).toBe(param);
      expect(err.message.length).toBeGreaterThan(10);
    });
  }

  it('checks every item before capturing any phrase', async () => {
    const { source, resolver: r } = resolver();
    await steerError(r.resolve([{ phrase: 'costly' }, { phrase: 'x', layer: 99 }]));
    expect(source.captures).toEqual([]);
  });
});

describe('steerSchema', () => {
  const request = z.object({ steer: steerSchema.optional() });
  const params = (body: unknown): string[] => {
    const result = request.safeParse(body);
    return result.success ? [] : narrowUnionIssues(result.error.issues).map((i) => issuePathToParam(i.path));
  };

  it('accepts a phrase, an item, or a list, unchanged', () => {
    for (const steer of ['love', { feature: 3, strength: 2, mode: 'clamp' }, [{ vector: [1, 2] }, { phrase: 'x', layer: 0, apply_to: 'prompt' }], []]) {
      expect(request.parse({ steer })).toEqual({ steer });
    }
  });

  it('reports each problem at the item or field it concerns', () => {
    expect(params({ steer: [{ phrase: 'a' }, { phrase: 'a', feature: 1 }] })).toEqual(['steer[1]']);
    expect(params({ steer: [{ phrase: 'a' }, { feature: 'x' }] })).toEqual(['steer[1].feature']);
    expect(params({ steer: [{ feature: 1, strength: Infinity }] })).toEqual(['steer[0].strength']);
    expect(params({ steer: { vector: [1, NaN] } })).toEqual(['steer.vector[1]']);
    expect(params({ steer: { feature: 1.5 } })).toEqual(['steer.feature']);
    expect(params({ steer: { phrase: 'a', layer: -1 } })).toEqual(['steer.layer']);
    expect(params({ steer: { phrase: 'a', strenght: 1 } })).toEqual(['steer']);
    expect(params({ steer: [{ phrase: 'a', mode: 'clamp' }] })).toEqual(['steer[0].mode', 'steer[0].strength']);
    expect(params({ steer: '' })).toEqual(['steer']);
    expect(params({ steer: 3 })).toEqual(['steer']);
  });

  it('converts to JSON Schema (for OpenAPI)', () => {
    const schema = JSON.stringify(z.toJSONSchema(steerSchema, { io: 'input' }));
    expect(schema).toContain('"anyOf"');
    expect(schema).toContain('activation addition');
  });
});

describe('caches', () => {
  it('Lru evicts the least recently used', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.size]).toEqual([1, undefined, 3, 2]);
  });

  it('PhraseVectors recaptures a phrase once it has been evicted', async () => {
    const source = new FakeSource();
    const phrases = new PhraseVectors({ source, cacheSize: 1 });
    await phrases.vector('one', 0);
    await phrases.vector('two', 0);
    await phrases.vector('one', 0);
    expect(source.capturesOf('one')).toBe(2);
    expect(source.capturesOf(NEUTRAL_TEXT)).toBe(1);
  });

  it('concurrent requests for the same phrase and layer share one capture', async () => {
    const source = new FakeSource();
    const phrases = new PhraseVectors({ source });
    const [a, b] = await Promise.all([phrases.vector('same', 2), phrases.vector('same', 2)]);
    expect(a.direction).toEqual(b.direction);
    expect(source.capturesOf('same')).toBe(1);
    expect(source.capturesOf(NEUTRAL_TEXT)).toBe(1);
  });
});
