import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';
import {
  GgmlTensorType,
  float16BitsToFloat32,
  float32ArrayToFloat16Bits,
  float32ToFloat16Bits,
  gguf,
  writeGguf,
} from '../src/gguf/gguf-writer.js';
import { SPM_SPACE, SPM_SPECIAL_IDS, SpmTokenType, buildSpmVocab } from '../src/models/spm-vocab.js';
import { CHATML_TEMPLATE, writeRandomLlamaModel } from '../src/models/random-llama.js';
import { TEST_MODEL_OPTIONS, testModelPath } from './helpers/test-models.js';

describe('float32 → float16', () => {
  it('converts known values exactly', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite
      [65519.99, 0x7bff], // just below the midpoint to Inf
      [65520, 0x7c00], // the midpoint: ties to even, and the even neighbour is Inf
      [1e6, 0x7c00],
      [2 ** -14, 0x0400], // smallest normal, 6.1035e-5
      [6.1e-5, 0x03ff], // just below it: the largest subnormal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // half of it: ties to even (0)
      [2 ** -25 * 1.0001, 0x0001], // above half: rounds up
      [3 * 2 ** -25, 0x0002], // 1.5 × smallest subnormal: ties to even (2)
      [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal (odd) and smallest normal
      [1e-10, 0x0000],
      [-1e-10, 0x8000],
      [0, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1 + 2 ** -11, 0x3c00], // tie between 1 (even) and 1 + 2^-10
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 1 + 2^-10 (odd) and 1 + 2^-9
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [-(1 + 3 * 2 ** -11), 0xbc02],
    ];
    for (const [value, expected] of cases) expect(float32ToFloat16Bits(value), `${value}`).toBe(expected);
    const nan = float32ToFloat16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('round-trips every finite float16 and rounds every midpoint (and its float32 neighbours) correctly', () => {
    const values: number[] = [];
    const expected: number[] = [];
    const scratch = new Float32Array(1);
    const scratchBits = new Uint32Array(scratch.buffer);
    const bitsOf = (x: number): number => ((scratch[0] = x), scratchBits[0]!);
    const fromBits = (bits: number): number => ((scratchBits[0] = bits), scratch[0]!);
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [0, 0x8000]) {
        values.push(float16BitsToFloat32(sign | h));
        expected.push(sign | h);
        if (h < 0x7bff) {
          // the midpoint to the next magnitude up (exact in float32) goes to whichever of the two is even;
          // one float32 ulp either side of it must not be treated as a tie
          const midpoint = (float16BitsToFloat32(sign | h) + float16BitsToFloat32(sign | (h + 1))) / 2;
          values.push(midpoint, fromBits(bitsOf(midpoint) + 1), fromBits(bitsOf(midpoint) - 1));
          expected.push(sign | (h % 2 === 0 ? h : h + 1), sign | (h + 1), sign | h);
        }
      }
    }
    const converted = float32ArrayToFloat16Bits(Float32Array.from(values));
    const mismatches: Array<[number, number, number]> = [];
    for (let i = 0; i < expected.length; i++) if (converted[i] !== expected[i]) mismatches.push([values[i]!, expected[i]!, converted[i]!]);
    expect(mismatches.slice(0, 5)).toEqual([]);
    // the array path and the scalar path agree
    for (let i = 0; i < values.length; i += 97) expect(float32ToFloat16Bits(values[i]!)).toBe(converted[i]);
  });
});

describe('SPM vocabulary', () => {
  it('has the special tokens at their ids, 256 byte tokens and exactly the requested size', () => {
    for (const size of [400, 512, 1000, 32000]) {
      const vocab = buildSpmVocab(size);
      expect(vocab.tokens).toHaveLength(size);
      expect(vocab.scores).toHaveLength(size);
      expect(vocab.types).toHaveLength(size);
      expect(new Set(vocab.tokens).size).toBe(size);
      const { unk, bos, eos, imStart, imEnd } = SPM_SPECIAL_IDS;
      expect([vocab.tokens[unk], vocab.types[unk]]).toEqual(['<unk>', SpmTokenType.UNKNOWN]);
      expect([vocab.tokens[bos], vocab.types[bos]]).toEqual(['<s>', SpmTokenType.CONTROL]);
      expect([vocab.tokens[eos], vocab.types[eos]]).toEqual(['</s>', SpmTokenType.CONTROL]);
      expect([vocab.tokens[imStart], vocab.types[imStart]]).toEqual(['<|im_start|>', SpmTokenType.CONTROL]);
      expect([vocab.tokens[imEnd], vocab.types[imEnd]]).toEqual(['<|im_end|>', SpmTokenType.CONTROL]);
      const byteIds = [...vocab.types.keys()].filter((id) => vocab.types[id] === SpmTokenType.BYTE);
      expect(byteIds).toHaveLength(256);
      expect(vocab.tokens[vocab.firstByteTokenId]).toBe('<0x00>');
      expect(vocab.tokens[vocab.firstByteTokenId + 0x0a]).toBe('<0x0A>');
      expect(vocab.tokens[vocab.firstByteTokenId + 255]).toBe('<0xFF>');
    }
  });

  it('holds the demo words and is prefix-closed, so llama.cpp can merge its way to every piece', () => {
    const vocab = buildSpmVocab(512);
    const ids = new Map(vocab.tokens.map((t, i) => [t, i]));
    for (const word of ['the', 'story', 'ocean', 'about', 'user', 'assistant']) expect(ids.has(SPM_SPACE + word), word).toBe(true);
    vocab.tokens.forEach((token, id) => {
      if (vocab.types[id] !== SpmTokenType.NORMAL) return;
      const characters = [...token];
      for (let n = 2; n < characters.length; n++) {
        const prefixId = ids.get(characters.slice(0, n).join(''));
        expect(prefixId !== undefined && prefixId < id, `${token} needs its prefix of ${n} characters earlier`).toBe(true);
      }
    });
    expect(buildSpmVocab(700).tokens.slice(0, 512)).toEqual(vocab.tokens); // sizes share their prefix
  });
});

describe('GGUF writer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'steerd-gguf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the tiny model with the right metadata, tensor infos and aligned offsets', async () => {
    const modelPath = await testModelPath('tiny');
    const options = TEST_MODEL_OPTIONS.tiny;
    const info: GgufFileInfo = await readGgufFileInfo(modelPath, { logWarnings: false });
    expect(info.version).toBe(3);
    const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(metadata.general).toMatchObject({ architecture: 'llama', name: 'steerd-test-tiny', alignment: 32 });
    expect(info.architectureMetadata).toMatchObject({
      context_length: 1024,
      embedding_length: 64,
      block_count: 4,
      feed_forward_length: 192,
      attention: { head_count: 4, head_count_kv: 4 },
      rope: { dimension_count: 16, freq_base: 10000 },
      vocab_size: 512,
    });
    const tokenizer = info.metadata.tokenizer as unknown as { ggml: Record<string, unknown>; chat_template: string };
    expect(tokenizer.ggml).toMatchObject({ model: 'llama', bos_token_id: 1, eos_token_id: 2, eot_token_id: 4, unknown_token_id: 0 });
    expect(tokenizer.ggml).toMatchObject({ add_bos_token: true, add_eos_token: false });
    expect((tokenizer.ggml.tokens as string[]).slice(0, 5)).toEqual(['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']);
    expect(tokenizer.ggml.tokens).toHaveLength(512);
    expect(tokenizer.chat_template).toBe(CHATML_TEMPLATE);

    const tensors = info.tensorInfo!;
    const expectedNames = ['token_embd.weight', 'output_norm.weight', 'output.weight'];
    for (let layer = 0; layer < options.nLayer; layer++) {
      for (const t of ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down']) {
        expectedNames.push(`blk.${layer}.${t}.weight`);
      }
    }
    expect(tensors.map((t) => t.name).sort()).toEqual(expectedNames.sort());
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const dims = (name: string): number[] => byName.get(name)!.dimensions.map(Number);
    expect(dims('token_embd.weight')).toEqual([64, 512]);
    expect(dims('output.weight')).toEqual([64, 512]);
    expect(dims('output_norm.weight')).toEqual([64]);
    expect(dims('blk.3.attn_k.weight')).toEqual([64, 64]);
    expect(dims('blk.0.ffn_gate.weight')).toEqual([64, 192]);
    expect(dims('blk.0.ffn_down.weight')).toEqual([192, 64]);
    for (const t of tensors) expect(t.ggmlType).toBe(GgmlTensorType.F32);

    // offsets: aligned, and each one is the previous one plus its padded size (what ggml insists on)
    let expectedOffset = 0;
    for (const t of tensors) {
      expect(Number(t.offset)).toBe(expectedOffset);
      expect(Number(t.fileOffset) % 32).toBe(0);
      const bytes = t.dimensions.map(Number).reduce((a, b) => a * b, 1) * 4;
      expectedOffset += Math.ceil(bytes / 32) * 32;
    }
    const last = tensors.at(-1)!;
    expect((await stat(modelPath)).size).toBe(Number(last.fileOffset) - Number(last.offset) + expectedOffset);
  });

  it('writes F16 tensors and grouped-query attention shapes for the small model', async () => {
    const info = await readGgufFileInfo(await testModelPath('small'), { logWarnings: false });
    const byName = new Map(info.tensorInfo!.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_k.weight')!.dimensions.map(Number)).toEqual([128, 64]); // 2 KV heads × 32
    expect(byName.get('blk.0.attn_q.weight')!.ggmlType).toBe(GgmlTensorType.F16);
    expect(byName.get('blk.0.attn_norm.weight')!.ggmlType).toBe(GgmlTensorType.F32);
  });

  it('is deterministic: same seed → identical bytes, another seed → different bytes', async () => {
    const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');
    const options = { ...TEST_MODEL_OPTIONS.tiny, nLayer: 2, dtype: 'f16' as const };
    const [a, b, c] = ['a', 'b', 'c'].map((n) => path.join(dir, `${n}.gguf`)) as [string, string, string];
    await writeRandomLlamaModel(a, options);
    await writeRandomLlamaModel(b, options);
    await writeRandomLlamaModel(c, { ...options, seed: options.seed + 1 });
    expect(await sha256(a)).toBe(await sha256(b));
    expect(await sha256(a)).not.toBe(await sha256(c));
  });

  it('writes tensor data little-endian at the stated offsets, whatever the chunking', async () => {
    const file = path.join(dir, 'raw.gguf');
    const values = Float32Array.from({ length: 3 * 5 }, (_, i) => i - 7.5);
    const { dataOffset, tensorOffsets } = await writeGguf(file, { 'general.architecture': gguf.str('test') }, [
      { name: 'a', shape: [5, 3], type: GgmlTensorType.F32, data: () => [values.subarray(0, 4), values.subarray(4)] },
      { name: 'b', shape: [3], type: GgmlTensorType.F16, data: () => [Float32Array.of(1, -2, 65504)] },
    ]);
    const bytes = await readFile(file);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(bytes.readUInt32LE(4)).toBe(3);
    expect(bytes.readBigUInt64LE(8)).toBe(2n); // tensors
    expect(bytes.readBigUInt64LE(16)).toBe(2n); // kv pairs: general.architecture + general.alignment
    expect(dataOffset % 32).toBe(0);
    const a = dataOffset + tensorOffsets.get('a')!;
    expect(Array.from({ length: 15 }, (_, i) => bytes.readFloatLE(a + 4 * i))).toEqual(Array.from(values));
    const b = dataOffset + tensorOffsets.get('b')!;
    expect(tensorOffsets.get('b')).toBe(64); // 60 bytes padded to 64
    expect([bytes.readUInt16LE(b), bytes.readUInt16LE(b + 2), bytes.readUInt16LE(b + 4)]).toEqual([0x3c00, 0xc000, 0x7bff]);
    expect(bytes.length).toBe(dataOffset + 64 + 32);
  });
});
