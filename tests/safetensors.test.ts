import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile, readSafetensors, writeSafetensors } from '../src/sae/safetensors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steerd-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A safetensors file assembled by hand, to test the reader against bytes the writer would never produce. */
async function rawFile(name: string, header: unknown, data: Uint8Array = new Uint8Array()): Promise<string> {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([prefix, json, data]));
  return path;
}

const bytesOf = (a: Uint16Array | Float64Array): Uint8Array => new Uint8Array(a.buffer);

describe('writeSafetensors / readSafetensors', () => {
  it('round-trips F32 tensors, shapes and metadata, with 8-byte aligned data', async () => {
    const path = join(dir, 'roundtrip.safetensors');
    const a = Float32Array.from({ length: 6 }, (_, i) => i * 1.5 - 2);
    const b = Float32Array.from([3.25]);
    await writeSafetensors(path, { a: { shape: [2, 3], data: a }, b: { shape: [1], data: b } }, { format: 'pt' });

    const tensors = await readSafetensors(path);
    expect(tensors.get('a')).toEqual({ shape: [2, 3], data: a });
    expect(tensors.get('b')).toEqual({ shape: [1], data: b });

    const file = await SafetensorsFile.open(path);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.values()].every((t) => t.begin % 8 === 0)).toBe(true);
    await file.close();
  });

  it('decodes F16 exactly, including subnormals, signed zero and infinity', async () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555]);
    const expected = [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity, 0.333251953125];
    const path = join(dir, 'f16.safetensors');
    await writeSafetensors(path, { h: { shape: [8], dtype: 'F16', data: bytesOf(bits) } });
    const { data } = (await readSafetensors(path)).get('h')!;
    expect(Array.from(data)).toEqual(expected);
    expect(Object.is(data[5], -0)).toBe(true);
  });

  it('decodes BF16 as the top half of a float32, and F64 by narrowing', async () => {
    const values = Float32Array.from([1, -2, 0.15625, 3.1415927, -1e-3, 1e30]);
    const words = new Uint32Array(values.buffer);
    const bits = Uint16Array.from(words, (w) => w >>> 16);
    const expected = Float32Array.from(new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer));
    const wide = Float64Array.from([0.1, -7, 2 ** 40]);
    const path = join(dir, 'bf16.safetensors');
    await writeSafetensors(path, {
      bf: { shape: [2, 3], dtype: 'BF16', data: bytesOf(bits) },
      wide: { shape: [3], dtype: 'F64', data: bytesOf(wide) },
    });
    const tensors = await readSafetensors(path);
    expect(tensors.get('bf')).toEqual({ shape: [2, 3], data: expected });
    expect(tensors.get('bf')!.data[0]).toBe(1);
    expect(tensors.get('wide')!.data).toEqual(Float32Array.from(wide));
  });
});

describe('safetensors errors name the file and the tensor', () => {
  it('a missing tensor', async () => {
    const path = join(dir, 'one.safetensors');
    await writeSafetensors(path, { present: { shape: [1], data: new Float32Array(1) } });
    const file = await SafetensorsFile.open(path);
    await expect(file.read('absent')).rejects.toThrow(`${path}: tensor "absent": missing from the file`);
    await file.close();
  });

  it('an unsupported dtype', async () => {
    const path = join(dir, 'i64.safetensors');
    await writeSafetensors(path, { ids: { shape: [2], dtype: 'I64', data: new Uint8Array(16) } });
    await expect(readSafetensors(path)).rejects.toThrow(`${path}: tensor "ids": unsupported dtype I64`);
  });

  it('a file truncated inside the tensor data', async () => {
    const path = join(dir, 'cut.safetensors');
    await writeSafetensors(path, { w: { shape: [4, 4], data: new Float32Array(16) } });
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 5));
    await expect(SafetensorsFile.open(path)).rejects.toThrow(new RegExp(`^${path}: tensor "w": file is truncated`));
  });

  it('a file shorter than the header it announces, or than the length prefix', async () => {
    const path = join(dir, 'short-header.safetensors');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(100n);
    await writeFile(path, Buffer.concat([prefix, Buffer.from('{"a":')]));
    await expect(SafetensorsFile.open(path)).rejects.toThrow(`${path}: file is truncated (header claims 100 bytes`);

    const tiny = join(dir, 'tiny.safetensors');
    await writeFile(tiny, Buffer.from([1, 2, 3]));
    await expect(SafetensorsFile.open(tiny)).rejects.toThrow(`${tiny}: file is truncated`);
  });

  it('a header that is not JSON, not an object, or implausibly long', async () => {
    const notJson = await rawFile('not-json.safetensors', '{"a": nope}');
    await expect(SafetensorsFile.open(notJson)).rejects.toThrow(`${notJson}: bad header: not valid JSON`);
    const list = await rawFile('list.safetensors', '[1, 2]');
    await expect(SafetensorsFile.open(list)).rejects.toThrow(`${list}: bad header: not a JSON object`);

    const huge = join(dir, 'huge.safetensors');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(1n << 40n);
    await writeFile(huge, prefix);
    await expect(SafetensorsFile.open(huge)).rejects.toThrow(`${huge}: bad header: header length`);
  });

  it('entries with a bad shape, bad offsets, or offsets that disagree with the shape', async () => {
    const badShape = await rawFile('bad-shape.safetensors', { t: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4));
    await expect(SafetensorsFile.open(badShape)).rejects.toThrow(`${badShape}: tensor "t": bad header: shape`);
    const badOffsets = await rawFile('bad-offsets.safetensors', { t: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4));
    await expect(SafetensorsFile.open(badOffsets)).rejects.toThrow(`${badOffsets}: tensor "t": bad header: data_offsets`);
    const mismatch = await rawFile('mismatch.safetensors', { t: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, new Uint8Array(4));
    await expect(SafetensorsFile.open(mismatch)).rejects.toThrow(
      `${mismatch}: tensor "t": bad header: data_offsets span 4 bytes but shape [3] of F16 needs 6`,
    );
    const noDtype = await rawFile('no-dtype.safetensors', { t: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
    await expect(SafetensorsFile.open(noDtype)).rejects.toThrow(`${noDtype}: tensor "t": bad header: dtype is missing`);
  });

  it('the writer refuses data that does not match the shape', async () => {
    const path = join(dir, 'wrong.safetensors');
    await expect(writeSafetensors(path, { w: { shape: [2, 2], data: new Float32Array(3) } })).rejects.toThrow(
      `${path}: tensor "w": has 3 values but shape [2, 2] needs 4`,
    );
  });
});
