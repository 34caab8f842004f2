/**
 * The feature endpoints over HTTP on the real engine (tiny random-weight model) with a small SAE, labels and
 * statistics written by the test: every value checked against a reference read (engine residuals + the plain
 * Sae.encode), greedy generations against /v1/chat/completions, and the errors (400s, 404s).
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import type { Engine } from '../src/engine/engine.js';
import type { Intervention } from '../src/engine/types.js';
import { Metrics } from '../src/metrics.js';
import { FEATURE_STATS_FILE, FeatureStats, writeFeatureStats, type FeatureStatsRow } from '../src/sae/feature-stats.js';
import { loadSae } from '../src/sae/load.js';
import type { Sae } from '../src/sae/sae.js';
import type { FeatureDetail, FeatureInspection, FeatureSearchResult } from '../src/schemas/features.js';
import type { ModelObject } from '../src/schemas/models.js';
import { createServices } from '../src/services/create-services.js';
import type { SteeringEcho } from '../src/steering/resolve.js';
import { testSae, writeTestSae } from './helpers/test-sae.js';
import { loadTestEngine } from './helpers/test-server.js';

const LAYER = 2;
const D_SAE = 96;
const NO_STATS = 40;
const LABELS = new Map([
  [5, 'ocean waves and sea spray'],
  [11, 'dragons breathing fire'],
  [17, 'ocean storms at night'],
]);

let engine: Engine;
let app: FastifyInstance;
let bare: FastifyInstance;
let folder: string;
let sae: Sae;
let stats: FeatureStats;
let modelInfo: ModelObject;

const statsRows: FeatureStatsRow[] = Array.from({ length: D_SAE }, (_, f) => ({
  index: f,
  density: (f + 1) / 1000,
  max_activation: 2 + f / 10,
  top_contexts: f === 5 ? [{ text: 'the [[ sea]] was', token: ' sea', activation: 2.5 }] : [],
})).filter((r) => r.index !== NO_STATS);

beforeAll(async () => {
  engine = await loadTestEngine({ parallel: 2 });
  folder = await writeTestSae(testSae({ dIn: engine.info.nEmbd, dSae: D_SAE, hookLayer: LAYER, k: 6, seed: 9, labels: LABELS }));
  await writeFeatureStats(join(folder, FEATURE_STATS_FILE), statsRows);
  stats = new FeatureStats(D_SAE, statsRows);
  sae = await loadSae(folder, { nEmbd: engine.info.nEmbd, nLayer: engine.info.nLayer });
  const metrics = () => new Metrics({ defaultMetrics: false });
  app = await buildApp({ config: { apiKeys: [] }, engine, services: await createServices({ engine, metrics: metrics(), sae: { path: folder, sae } }) });
  bare = await buildApp({ config: { apiKeys: [] }, engine, services: await createServices({ engine, metrics: metrics() }) });
  modelInfo = ((await app.inject({ method: 'GET', url: '/v1/models' })).json() as { data: ModelObject[] }).data[0]!;
});

afterAll(async () => {
  await app?.close();
  await bare?.close();
  await engine?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

async function inspect(payload: object, on = app): Promise<FeatureInspection> {
  const response = await on.inject({ method: 'POST', url: '/v1/features/inspect', payload });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as FeatureInspection;
}

/** Reference: residuals at the SAE layer from the engine, encoded with the plain Sae.encode; each row's top n. */
async function referenceTop(tokens: number[], n: number, interventions: Intervention[] = [], generatedFrom?: number) {
  const { residuals } = await engine.evaluate(tokens, { layers: [LAYER], interventions, ...(generatedFrom === undefined ? {} : { generatedFrom }) });
  const acts = sae.encode(residuals[0]!, tokens.length);
  return tokens.map((_, r) =>
    Array.from(acts.subarray(r * D_SAE, (r + 1) * D_SAE), (activation, index) => ({ index, activation }))
      .filter((f) => f.activation > 0)
      .sort((a, b) => b.activation - a.activation || a.index - b.index)
      .slice(0, n),
  );
}

function expectFeatures(actual: FeatureInspection['tokens'][number]['features'], expected: { index: number; activation: number }[]) {
  expect(actual.map((f) => f.index)).toEqual(expected.map((f) => f.index));
  actual.forEach((f, i) => {
    expect(Math.abs(f.activation - expected[i]!.activation)).toBeLessThan(1e-4 * (1 + expected[i]!.activation));
    expect(f).toMatchObject({ label: LABELS.get(f.index) ?? null, density: stats.density(f.index), rarity: stats.rarity(f.index) });
  });
}

describe('POST /v1/features/inspect', () => {
  it("reads every prompt token's top features, labelled, with density and rarity from the statistics", async () => {
    const prompt = 'The sea was calm, and the boats rested.';
    const body = await inspect({ prompt, top_k: 5 });
    const tokens = engine.tokenize(prompt, { addSpecial: true, parseSpecial: true });
    expect(body).toMatchObject({
      object: 'features.inspection',
      model: modelInfo.id,
      sae: { id: basename(folder), layer: LAYER, hook_name: `blocks.${LAYER}.hook_resid_post`, d_sae: D_SAE },
    });
    expect(body).not.toHaveProperty('steering');
    expect(body.tokens.map((t) => [t.position, t.token_id, t.text, t.source])).toEqual(
      tokens.map((t, i) => [i, t, engine.tokenText(t), 'prompt']),
    );
    const reference = await referenceTop(tokens, 5);
    body.tokens.forEach((t, i) => expectFeatures(t.features, reference[i]!));
    expect(body.tokens.some((t) => t.features.length === 5)).toBe(true);
  });

  it('groups features that fire together into constellations over real positions', async () => {
    const body = await inspect({ prompt: 'the sea and the sea and the sea, the dragon and the dragon and the dragon', top_k: 16 });
    expect(body.constellations.length).toBeGreaterThan(0);
    for (const [i, c] of body.constellations.entries()) {
      expect(c.id).toBe(`c${i + 1}`);
      expect(c.features.length).toBeGreaterThanOrEqual(2);
      expect(c.name.length).toBeGreaterThan(0);
      expect(c.strength).toBeGreaterThan(0);
      expect(c.positions.length).toBeGreaterThan(0);
      for (const p of c.positions) {
        expect(p).toBeGreaterThan(0); // never BOS
        const here = new Set(body.tokens[p]!.features.map((f) => f.index));
        expect(c.features.filter((f) => here.has(f)).length).toBeGreaterThanOrEqual(2);
      }
    }
    const strengths = body.constellations.map((c) => c.strength);
    expect(strengths).toEqual([...strengths].sort((a, b) => b - a));
  });

  it('generates with steering (exactly what chat completions generates) and reads the steered tokens', async () => {
    const messages = [{ role: 'user', content: 'Tell me about the sea.' }];
    const steer = { feature: 5, strength: 6, apply_to: 'generation' };
    const body = await inspect({ messages, generate: { max_tokens: 5, temperature: 0 }, steer, top_k: 6 });
    const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages, steer, max_tokens: 5, temperature: 0, model: modelInfo.id } });
    const chatBody = chat.json() as { choices: { message: { content: string } }[]; steering: SteeringEcho[] };

    const generated = body.tokens.filter((t) => t.source === 'generated');
    const promptLength = body.tokens.length - generated.length;
    expect(generated.length).toBeGreaterThan(0);
    expect(body.tokens.slice(0, promptLength).every((t) => t.source === 'prompt')).toBe(true);
    expect(engine.detokenize(generated.map((t) => t.token_id))).toBe(chatBody.choices[0]!.message.content);
    expect(body.steering).toEqual(chatBody.steering);

    // prompt rows are unsteered (apply_to generation); generated rows carry feature 5's direction
    const tokens = body.tokens.map((t) => t.token_id);
    const unsteered = await referenceTop(tokens, 6);
    body.tokens.slice(0, promptLength).forEach((t, i) => expectFeatures(t.features, unsteered[i]!));
    const vector = sae.decoderRow(5).map((v) => v * 6 * modelInfo.mean_residual_norm);
    const steered = await referenceTop(tokens, 6, [{ kind: 'add', layer: LAYER, applyTo: 'generation', vector }], promptLength);
    generated.forEach((t) => {
      expectFeatures(t.features, steered[t.position]!);
      expect(t.features[0]!.index).toBe(5);
    });
  });

  it.each([
    { name: 'both prompt and messages', payload: { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, param: 'messages' },
    { name: 'neither prompt nor messages', payload: {}, param: 'prompt' },
    { name: 'top_k 0', payload: { prompt: 'a', top_k: 0 }, param: 'top_k' },
    { name: 'top_k 65', payload: { prompt: 'a', top_k: 65 }, param: 'top_k' },
    { name: 'a feature past the SAE', payload: { prompt: 'a', steer: { feature: D_SAE } }, param: 'steer.feature' },
    { name: 'an unknown field', payload: { prompt: 'a', colour: 'red' }, param: 'colour' },
  ])('400 for $name', async ({ payload, param }) => {
    const response = await app.inject({ method: 'POST', url: '/v1/features/inspect', payload });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ error: { type: 'invalid_request_error', param } });
  });

  it('404 for an unknown model, and without an SAE', async () => {
    const wrong = await app.inject({ method: 'POST', url: '/v1/features/inspect', payload: { model: 'nope', prompt: 'a' } });
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([404, 'model_not_found']);
    for (const [method, url] of [['POST', '/v1/features/inspect'], ['GET', '/v1/features/search?q=sea'], ['GET', '/v1/features/3']] as const) {
      const response = await bare.inject({ method, url, ...(method === 'POST' ? { payload: { prompt: 'a' } } : {}) });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error).toMatchObject({ type: 'not_found_error', code: 'sae_not_loaded' });
      expect(response.json().error.message).toContain('--sae');
    }
  });
});

describe('GET /v1/features/search', () => {
  it('lists label matches first, then the features most active on the query text', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/features/search?q=Ocean' });
    expect(response.statusCode, response.body).toBe(200);
    const { data } = response.json() as FeatureSearchResult;
    // both labels hold "ocean"; the shorter label is more about it
    expect(data.slice(0, 2).map((d) => [d.index, d.match, d.label])).toEqual([[17, 'label', LABELS.get(17)], [5, 'label', LABELS.get(5)]]);
    expect(data[0]!.score).toBeGreaterThan(data[1]!.score);

    const tokens = engine.tokenize('Ocean', { addSpecial: true, parseSpecial: false });
    const [rows] = await engine.captureResiduals(tokens, [LAYER]);
    const acts = sae.encode(rows!.subarray(sae.dIn), tokens.length - 1);
    const best = new Map<number, number>();
    acts.forEach((a, i) => {
      const f = i % D_SAE;
      if (a > 0 && !LABELS.has(f) && a > (best.get(f) ?? 0)) best.set(f, a);
    });
    const expected = [...best].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 18);
    const byActivation = data.slice(2);
    expect(byActivation.map((d) => [d.index, d.match])).toEqual(expected.map(([f]) => [f, 'activation']));
    byActivation.forEach((d, i) => {
      expect(d.score).toBeCloseTo(expected[i]![1], 4);
      expect(d).toMatchObject({ label: null, density: stats.density(d.index), rarity: stats.rarity(d.index) });
    });
  });

  it('honours limit, and rejects a bad one or a missing query', async () => {
    const one = await app.inject({ method: 'GET', url: '/v1/features/search?q=dragon%20fire&limit=1' });
    expect((one.json() as FeatureSearchResult).data.map((d) => [d.index, d.match])).toEqual([[11, 'label']]);
    for (const [url, param] of [['/v1/features/search?q=sea&limit=0', 'limit'], ['/v1/features/search?q=sea&limit=101', 'limit'], ['/v1/features/search', 'q']]) {
      const response = await app.inject({ method: 'GET', url: url! });
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error.param).toBe(param);
    }
  });
});

describe('GET /v1/features/{index}', () => {
  it('describes a feature: label, statistics, top contexts and nearest features by decoder cosine', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/features/5' });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as FeatureDetail;
    expect(body).toMatchObject({
      object: 'feature', index: 5, label: LABELS.get(5), density: 0.006, max_activation: 2.5, rarity: stats.rarity(5),
      top_contexts: statsRows[5]!.top_contexts,
    });
    const d = (f: number) => sae.decoderRow(f);
    const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
    const expected = Array.from({ length: D_SAE }, (_, f) => ({ index: f, cosine: cosine(d(5), d(f)) }))
      .filter((f) => f.index !== 5)
      .sort((a, b) => b.cosine - a.cosine)
      .slice(0, 10);
    expect(body.nearest.map((n) => n.index)).toEqual(expected.map((n) => n.index));
    body.nearest.forEach((n, i) => {
      expect(n.cosine).toBeCloseTo(expected[i]!.cosine, 5);
      expect(n.label).toBe(LABELS.get(n.index) ?? null);
    });
  });

  it('gives nulls for a feature without statistics, 404 past the SAE, 400 for a non-index', async () => {
    const plain = (await app.inject({ method: 'GET', url: `/v1/features/${NO_STATS}` })).json() as FeatureDetail;
    expect(plain).toMatchObject({ index: NO_STATS, label: null, density: null, max_activation: null, rarity: null, top_contexts: [] });
    const missing = await app.inject({ method: 'GET', url: `/v1/features/${D_SAE}` });
    expect([missing.statusCode, missing.json().error.code, missing.json().error.type]).toEqual([404, 'feature_not_found', 'not_found_error']);
    for (const url of ['/v1/features/abc', '/v1/features/-1', '/v1/features/1.5']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(400);
    }
  });
});

describe('a phrase in steer', () => {
  async function chat(steer: unknown) {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { model: modelInfo.id, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8, temperature: 0, steer },
    });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json() as { choices: { message: { content: string } }[]; steering: SteeringEcho[] };
    return { text: body.choices[0]!.message.content, steering: body.steering[0]! };
  }

  it("resolves through the labels to that feature's decoder direction when a label holds all its words", async () => {
    const byPhrase = await chat({ phrase: 'Dragons', strength: 4 });
    expect(byPhrase.steering).toMatchObject({ source: 'phrase', phrase: 'Dragons', phrase_method: 'label_search', layer: LAYER });
    expect(byPhrase.steering.features).toEqual([{ index: 11, label: LABELS.get(11), score: expect.any(Number) }]);
    expect(byPhrase.steering).not.toHaveProperty('top_features');
    expect(byPhrase.text).toBe((await chat({ feature: 11, strength: 4 })).text);
  });

  it('uses activation addition when no label matches, or at a layer other than the SAE’s', async () => {
    const unmatched = await chat({ phrase: 'purple unicorn', strength: 4 });
    expect(unmatched.steering).toMatchObject({ phrase_method: 'activation_addition' });
    // its top features (natively encoded) are the plain encode's on the phrase's mean residual at the SAE layer
    const tokens = engine.tokenize('purple unicorn', { addSpecial: true, parseSpecial: false });
    const [rows] = await engine.captureResiduals(tokens, [LAYER]);
    const mean = new Float32Array(sae.dIn);
    for (let r = 1; r < tokens.length; r++) for (let i = 0; i < sae.dIn; i++) mean[i]! += rows![r * sae.dIn + i]! / (tokens.length - 1);
    const expected = sae.topFeatures(mean, 5);
    expect(unmatched.steering.top_features!.map((f) => f.index)).toEqual(expected.map((f) => f.index));
    unmatched.steering.top_features!.forEach((f, i) => expect(f.activation).toBeCloseTo(expected[i]!.activation, 3));
    const elsewhere = await chat({ phrase: 'dragons', strength: 4, layer: 1 });
    expect(elsewhere.steering).toMatchObject({ phrase_method: 'activation_addition', layer: 1 });
    expect(elsewhere.steering).not.toHaveProperty('features');
  });
});
