import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors, type TensorToWrite } from '../src/sae/safetensors.js';
import { Sae, transpose, type SaeArchitecture } from '../src/sae/sae.js';
import { loadSae } from '../src/sae/load.js';
import { hookNameToLayer, saveSaeLens } from '../src/sae/saelens.js';

const D_IN = 12;
const D_SAE = 40;
const MODEL = { nEmbd: D_IN, nLayer: 6 };
const ROWS = 5;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steerd-sae-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
const randomArray = (n: number, next: () => number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => next() * scale);

/** SAELens-layout tensors: W_enc [d_in, d_sae], W_dec [d_sae, d_in]. Thresholds straddle 0 to exercise JumpReLU's ReLU. */
function saeLensTensors(seed: number) {
  const next = rng(seed);
  return {
    W_enc: randomArray(D_IN * D_SAE, next),
    W_dec: randomArray(D_SAE * D_IN, next),
    b_enc: randomArray(D_SAE, next, 0.5),
    b_dec: randomArray(D_IN, next),
    threshold: randomArray(D_SAE, next, 0.6),
  };
}
type Tensors = ReturnType<typeof saeLensTensors>;

/** The textbook maths, straight from SAELens, in float64 with no shortcuts. */
function referenceEncode(t: Tensors, arch: SaeArchitecture, applyBDec: boolean, k: number, x: Float32Array, rows: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const pre = Array.from({ length: D_SAE }, (_, f) => {
      let s = t.b_enc[f]!;
      for (let i = 0; i < D_IN; i++) s += (x[r * D_IN + i]! - (applyBDec ? t.b_dec[i]! : 0)) * t.W_enc[i * D_SAE + f]!;
      return s;
    });
    if (arch === 'standard') out.push(pre.map((v) => Math.max(0, v)));
    if (arch === 'jumprelu') out.push(pre.map((v, f) => (v > t.threshold[f]! ? Math.max(0, v) : 0)));
    if (arch === 'topk') {
      const keep = new Set(pre.map((v, f) => [v, f] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, f]) => f));
      out.push(pre.map((v, f) => (keep.has(f) ? Math.max(0, v) : 0)));
    }
  }
  return out;
}

function referenceDecode(t: Tensors, acts: Float32Array, rows: number): number[][] {
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: D_IN }, (_, i) => {
      let s = t.b_dec[i]!;
      for (let f = 0; f < D_SAE; f++) s += acts[r * D_SAE + f]! * t.W_dec[f * D_IN + i]!;
      return s;
    }),
  );
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!), `index ${i}`).toBeLessThan(tolerance);
}

interface FolderOptions {
  cfg?: Record<string, unknown>;
  tensors?: Record<string, TensorToWrite>;
  labels?: string;
  labelsFile?: string;
}
let folders = 0;
async function saeFolder(arch: SaeArchitecture, t: Tensors, options: FolderOptions = {}): Promise<string> {
  const folder = join(dir, `sae-${folders++}`);
  await mkdir(folder);
  const cfg = { architecture: arch, d_in: D_IN, d_sae: D_SAE, k: 7, apply_b_dec_to_input: true, metadata: { hook_name: 'blocks.3.hook_resid_post' }, ...options.cfg };
  await writeFile(join(folder, 'cfg.json'), JSON.stringify(cfg));
  const tensors: Record<string, TensorToWrite> = {
    W_enc: { shape: [D_IN, D_SAE], data: t.W_enc },
    W_dec: { shape: [D_SAE, D_IN], data: t.W_dec },
    b_enc: { shape: [D_SAE], data: t.b_enc },
    b_dec: { shape: [D_IN], data: t.b_dec },
    ...(arch === 'jumprelu' ? { threshold: { shape: [D_SAE], data: t.threshold } } : {}),
    ...options.tensors,
  };
  await writeSafetensors(join(folder, 'sae_weights.safetensors'), Object.fromEntries(Object.entries(tensors).filter(([, v]) => v.shape.length > 0)));
  if (options.labels !== undefined) await writeFile(join(folder, options.labelsFile ?? 'labels.jsonl'), options.labels);
  return folder;
}

describe('Sae maths against a reference implementation', () => {
  const x = randomArray(ROWS * D_IN, rng(99), 3);
  for (const arch of ['standard', 'topk', 'jumprelu'] as const) {
    for (const applyBDec of [true, false]) {
      it(`${arch}, apply_b_dec_to_input=${applyBDec}: encode, decode, clampParams, topFeatures`, async () => {
        const t = saeLensTensors(arch.length * 10 + Number(applyBDec));
        const sae = await loadSae(await saeFolder(arch, t, { cfg: { apply_b_dec_to_input: applyBDec } }), MODEL);
        expect(sae.architecture).toBe(arch);
        expect(sae.applyBDecToInput).toBe(applyBDec);

        const acts = sae.encode(x, ROWS);
        const expected = referenceEncode(t, arch, applyBDec, 7, x, ROWS);
        expectClose(acts, expected.flat());
        expect(await sae.encodeAsync(x, ROWS)).toEqual(acts);
        // the test is only meaningful if some features fire and some do not
        expect(acts.some((a) => a > 0) && acts.some((a) => a === 0)).toBe(true);
        if (arch === 'topk') for (let r = 0; r < ROWS; r++) expect(acts.subarray(r * D_SAE, (r + 1) * D_SAE).filter((a) => a > 0).length).toBeLessThanOrEqual(7);

        expectClose(sae.decode(acts, ROWS), referenceDecode(t, acts, ROWS).flat());

        // clampParams alone reproduce each feature's activation from the raw residual
        for (let f = 0; f < D_SAE; f++) {
          const { encoder, bias, threshold } = sae.clampParams(f);
          for (let r = 0; r < ROWS; r++) {
            let pre = bias;
            for (let i = 0; i < D_IN; i++) pre += encoder[i]! * x[r * D_IN + i]!;
            const act = pre > threshold ? pre : 0;
            const actual = acts[r * D_SAE + f]!;
            // topk: exact only for the features that made the top k
            if (arch !== 'topk' || actual > 0) expect(Math.abs(act - actual)).toBeLessThan(1e-4);
          }
          expect(threshold).toBe(arch === 'jumprelu' ? Math.max(0, t.threshold[f]!) : 0);
        }

        const row0 = x.subarray(0, D_IN);
        const top = sae.topFeatures(row0, 4);
        const expectedTop = expected[0]!.map((activation, index) => ({ index, activation })).filter((f) => f.activation > 0).sort((a, b) => b.activation - a.activation).slice(0, 4);
        expect(top.map((f) => f.index)).toEqual(expectedTop.map((f) => f.index));
        expectClose(top.map((f) => f.activation), expectedTop.map((f) => f.activation));
      });
    }
  }

  it('decoderRow and encoderRow are copies of the feature directions; out-of-range features throw', async () => {
    const t = saeLensTensors(5);
    const sae = await loadSae(await saeFolder('standard', t), MODEL);
    expect(sae.decoderRow(3)).toEqual(t.W_dec.slice(3 * D_IN, 4 * D_IN));
    expect(sae.encoderRow(3)).toEqual(Float32Array.from({ length: D_IN }, (_, i) => t.W_enc[i * D_SAE + 3]!));
    sae.decoderRow(3).fill(0);
    expect(sae.decoderRow(3)).toEqual(t.W_dec.slice(3 * D_IN, 4 * D_IN));
    expect(() => sae.decoderRow(D_SAE)).toThrow(`feature ${D_SAE} is out of range`);
    expect(() => sae.encoderRow(-1)).toThrow('out of range');
  });

  it('topk applies ReLU to the k it keeps (a row whose top pre-activations are negative has no active features)', () => {
    const t = saeLensTensors(23);
    const sae = new Sae({
      architecture: 'topk', dIn: D_IN, dSae: D_SAE, wEnc: transpose(t.W_enc, D_IN, D_SAE), wDec: t.W_dec,
      bEnc: new Float32Array(D_SAE).fill(-100), bDec: t.b_dec, k: 3, hookLayer: 0,
    });
    expect(sae.encode(x, ROWS).every((a) => a === 0)).toBe(true);
    expect(sae.topFeatures(x.subarray(0, D_IN), 3)).toEqual([]);
  });

  it('transpose inverts itself', () => {
    const m = randomArray(7 * 130, rng(1));
    expect(transpose(transpose(m, 7, 130), 130, 7)).toEqual(m);
  });
});

describe('hook names', () => {
  it('maps resid_post L to L and resid_pre L to L-1, and rejects the embeddings and other hooks', () => {
    expect(hookNameToLayer('blocks.5.hook_resid_post')).toBe(5);
    expect(hookNameToLayer('blocks.0.hook_resid_post')).toBe(0);
    expect(hookNameToLayer('blocks.5.hook_resid_pre')).toBe(4);
    expect(() => hookNameToLayer('blocks.0.hook_resid_pre')).toThrow('token embeddings');
    expect(() => hookNameToLayer('blocks.3.hook_mlp_out')).toThrow('not a residual-stream hook');
  });

  it('reads SAELens v6 metadata.hook_name, the transitional meta, and older top-level hook_name', async () => {
    const t = saeLensTensors(7);
    expect((await loadSae(await saeFolder('standard', t), MODEL)).hookLayer).toBe(3);
    const meta = await saeFolder('standard', t, { cfg: { metadata: undefined, meta: { hook_name: 'blocks.2.hook_resid_post' } } });
    expect((await loadSae(meta, MODEL)).hookLayer).toBe(2);
    const old = await saeFolder('standard', t, { cfg: { architecture: undefined, metadata: undefined, hook_name: 'blocks.4.hook_resid_pre', hook_layer: 4 } });
    const sae = await loadSae(old, MODEL);
    expect([sae.architecture, sae.hookLayer, sae.hookName]).toEqual(['standard', 3, 'blocks.4.hook_resid_pre']);
  });
});

describe('loadSae', () => {
  it('loads from the folder, its cfg.json, or its weights file; reads pre-v5 TopK and log_threshold', async () => {
    const t = saeLensTensors(11);
    const folder = await saeFolder('standard', t, { cfg: { architecture: undefined, k: undefined, activation_fn_str: 'topk', activation_fn_kwargs: { k: 3 } } });
    for (const path of [folder, join(folder, 'cfg.json'), join(folder, 'sae_weights.safetensors')]) {
      const sae = await loadSae(path, MODEL);
      expect([sae.architecture, sae.k]).toEqual(['topk', 3]);
    }
    const logThreshold = await saeFolder('jumprelu', t, {
      tensors: { threshold: { shape: [], data: new Float32Array() }, log_threshold: { shape: [D_SAE], data: t.threshold.map(Math.log1p) } },
    });
    expectClose((await loadSae(logThreshold, MODEL)).threshold!, t.threshold.map((v) => Math.exp(Math.log1p(v))));
  });

  it('reads Neuronpedia-style labels (string or number index) from labels.jsonl or explanations.jsonl', async () => {
    const t = saeLensTensors(13);
    const labels = '{"index": 12, "description": " ocean: sea, waves", "frac_nonzero": 0.01}\n{"modelId":"m","index":"3","description":"cats"}\n\n{"index": 3, "description": "second opinion"}\n{"index": 4}\n';
    const sae = await loadSae(await saeFolder('standard', t, { labels }), MODEL);
    expect([...sae.labels]).toEqual([[12, 'ocean: sea, waves'], [3, 'cats']]);
    const other = await loadSae(await saeFolder('standard', t, { labels: '{"index":1,"description":"x"}', labelsFile: 'explanations.jsonl' }), MODEL);
    expect(other.label(1)).toBe('x');
    expect((await loadSae(await saeFolder('standard', t), MODEL)).labels.size).toBe(0);
  });

  it('saveSaeLens round-trips every architecture, with labels', async () => {
    const t = saeLensTensors(17);
    for (const arch of ['standard', 'topk', 'jumprelu'] as const) {
      const original = new Sae({
        architecture: arch, dIn: D_IN, dSae: D_SAE, wEnc: transpose(t.W_enc, D_IN, D_SAE), wDec: t.W_dec, bEnc: t.b_enc, bDec: t.b_dec,
        k: 5, threshold: t.threshold, hookLayer: 2, applyBDecToInput: false, labels: new Map([[7, 'seven']]),
      });
      const folder = join(dir, `saved-${arch}`);
      await saveSaeLens(folder, original, { metadata: { model_name: 'test' } });
      const loaded = await loadSae(folder, MODEL);
      expect(loaded).toEqual(original);
    }
  });

  it('every error names the file and the field', async () => {
    const t = saeLensTensors(19);
    const cases: Array<[Promise<string>, (folder: string) => string, string]> = [
      [saeFolder('standard', t, { cfg: { d_in: 16 } }), (f) => join(f, 'cfg.json'), "d_in is 16 but the model's residual width (n_embd) is 12"],
      [saeFolder('standard', t, { cfg: { d_sae: undefined } }), (f) => join(f, 'cfg.json'), 'd_sae is missing'],
      [saeFolder('standard', t, { cfg: { architecture: 'gated' } }), (f) => join(f, 'cfg.json'), 'architecture "gated" is not supported'],
      [saeFolder('standard', t, { cfg: { activation_fn: 'tanh-relu' } }), (f) => join(f, 'cfg.json'), 'activation_fn "tanh-relu" is not supported'],
      [saeFolder('topk', t, { cfg: { k: undefined } }), (f) => join(f, 'cfg.json'), 'k is missing'],
      [saeFolder('topk', t, { cfg: { k: 0 } }), (f) => join(f, 'cfg.json'), 'k is 0; expected an integer in [1, d_sae = 40]'],
      [saeFolder('standard', t, { cfg: { apply_b_dec_to_input: 'yes' } }), (f) => join(f, 'cfg.json'), 'apply_b_dec_to_input is "yes"'],
      [saeFolder('standard', t, { cfg: { normalize_activations: 'constant_norm_rescale' } }), (f) => join(f, 'cfg.json'), 'normalize_activations is "constant_norm_rescale"'],
      [saeFolder('standard', t, { cfg: { metadata: {} } }), (f) => join(f, 'cfg.json'), 'hook_name is missing'],
      [saeFolder('standard', t, { cfg: { metadata: { hook_name: 'blocks.0.hook_resid_pre' } } }), (f) => join(f, 'cfg.json'), 'metadata.hook_name "blocks.0.hook_resid_pre" reads the token embeddings'],
      [saeFolder('standard', t, { cfg: { metadata: undefined, hook_name: 'blocks.9.hook_resid_post' } }), (f) => join(f, 'cfg.json'), 'hook_name "blocks.9.hook_resid_post" reads layer 9 but the model has 6 layers (0..5)'],
      [saeFolder('standard', t, { tensors: { W_dec: { shape: [], data: new Float32Array() } } }), (f) => join(f, 'sae_weights.safetensors'), 'W_dec is missing'],
      [saeFolder('standard', t, { tensors: { b_enc: { shape: [D_SAE - 1], data: new Float32Array(D_SAE - 1) } } }), (f) => join(f, 'sae_weights.safetensors'), 'b_enc has shape [39]; expected [d_sae] = [40]'],
      [saeFolder('standard', t, { tensors: { W_enc: { shape: [D_SAE, D_IN], data: t.W_enc } } }), (f) => join(f, 'sae_weights.safetensors'), 'W_enc has shape [40, 12]; expected [d_in, d_sae] = [12, 40]'],
      [saeFolder('jumprelu', t, { tensors: { threshold: { shape: [], data: new Float32Array() } } }), (f) => join(f, 'sae_weights.safetensors'), 'threshold is missing'],
      [saeFolder('standard', t, { tensors: { b_dec: { shape: [D_IN], data: new Float32Array(D_IN).fill(NaN) } } }), (f) => join(f, 'sae_weights.safetensors'), 'b_dec holds a non-finite value (NaN) at flat index 0'],
      [saeFolder('standard', t, { tensors: { b_dec: { shape: [D_IN], dtype: 'I32', data: new Uint8Array(4 * D_IN) } } }), (f) => join(f, 'sae_weights.safetensors'), 'b_dec unsupported dtype I32'],
      [saeFolder('standard', t, { labels: '{"index":1,"description":"a"}\n{"index":1,' }), (f) => join(f, 'labels.jsonl'), 'line 2 is not valid JSON'],
      [saeFolder('standard', t, { labels: '{"index":40,"description":"a"}' }), (f) => join(f, 'labels.jsonl'), 'line 1 "index" is 40 but the SAE has features 0..39'],
      [saeFolder('standard', t, { labels: '{"index":"x1","description":"a"}' }), (f) => join(f, 'labels.jsonl'), 'line 1 "index" is "x1"; expected a feature index'],
    ];
    for (const [folderPromise, file, message] of cases) {
      const folder = await folderPromise;
      await expect(loadSae(folder, MODEL), message).rejects.toThrow(`${file(folder)}: ${message}`);
    }
    const missing = join(dir, 'nowhere');
    await expect(loadSae(missing, MODEL)).rejects.toThrow(`${missing}: path does not exist`);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await expect(loadSae(empty, MODEL)).rejects.toThrow(`${join(empty, 'cfg.json')}: file is missing`);
    await writeFile(join(empty, 'cfg.json'), '{"d_in":');
    await expect(loadSae(empty, MODEL)).rejects.toThrow(`${join(empty, 'cfg.json')}: file is not valid JSON`);
    await writeFile(join(empty, 'cfg.json'), JSON.stringify({ d_in: D_IN, d_sae: D_SAE, hook_name: 'blocks.1.hook_resid_post' }));
    await expect(loadSae(empty, MODEL)).rejects.toThrow(`${join(empty, 'sae_weights.safetensors')}: file is missing`);
  });
});
