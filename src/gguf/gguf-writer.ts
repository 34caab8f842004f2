/**
 * A minimal GGUF v3 writer (the subset llama.cpp needs for F32/F16 models). Layout:
 *   header: "GGUF", u32 version, u64 tensor count, u64 kv count
 *   kv pairs: string key, u32 value type, value
 *   tensor infos: string name, u32 n_dims, u64 ne[n_dims] (ne[0] = row length), u32 ggml type, u64 offset
 *   padding to `general.alignment`, then the tensor data, each tensor padded to the alignment.
 * ggml rejects a file whose tensor offsets are not exactly the padded running sum of the tensor sizes, so
 * offsets are computed here, never supplied. Everything is little-endian. Tensor data is streamed tensor by
 * tensor, chunk by chunk, so a 300 MB model never sits in one buffer.
 */
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** ggml_type values (ggml.h) of the tensor types this writer supports. */
export const GgmlTensorType = { F32: 0, F16: 1 } as const;
export type GgmlTensorType = (typeof GgmlTensorType)[keyof typeof GgmlTensorType];
const BYTES_PER_ELEMENT: Record<GgmlTensorType, number> = { 0: 4, 1: 2 };

/** gguf_type values (gguf.h). */
const GgufValueType = {
  UINT8: 0,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
} as const;

export type GgufArrayItemType = 'string' | 'int32' | 'uint32' | 'float32';
export type GgufValue =
  | { type: 'uint8' | 'int32' | 'uint32' | 'float32'; value: number }
  | { type: 'uint64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; itemType: 'string'; value: readonly string[] }
  | { type: 'array'; itemType: 'int32' | 'uint32' | 'float32'; value: ArrayLike<number> };

/** Typed constructors, because a JS number alone does not say which GGUF integer/float type it is. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: 'uint8', value }),
  i32: (value: number): GgufValue => ({ type: 'int32', value }),
  u32: (value: number): GgufValue => ({ type: 'uint32', value }),
  u64: (value: number | bigint): GgufValue => ({ type: 'uint64', value }),
  f32: (value: number): GgufValue => ({ type: 'float32', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  str: (value: string): GgufValue => ({ type: 'string', value }),
  strings: (value: readonly string[]): GgufValue => ({ type: 'array', itemType: 'string', value }),
  i32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'int32', value }),
  u32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'uint32', value }),
  f32s: (value: ArrayLike<number>): GgufValue => ({ type: 'array', itemType: 'float32', value }),
};

export interface GgufTensorSpec {
  name: string;
  /** ggml order: shape[0] = ne[0] = the row length (the contiguous dimension) */
  shape: readonly number[];
  type: GgmlTensorType;
  /**
   * yields the tensor's values in storage order, in chunks of any size that total product(shape); a chunk is
   * fully written before the next is requested, so a generator may reuse one buffer
   */
  data: () => Iterable<Float32Array>;
}

// --- float16 ---------------------------------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const f32ScratchBits = new Uint32Array(f32Scratch.buffer);

/** IEEE binary32 bits → binary16 bits, round-to-nearest-even, with subnormals, ±0, ±Inf and NaN. */
export function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0); // keep NaN quiet
  const halfExponent = exponent - 112; // rebias 127 → 15
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large even before rounding
  if (halfExponent <= 0) {
    // binary16 subnormal: value / 2^-24 = (1.mantissa) * 2^(exponent-150+24) = full >> (126 - exponent)
    const shift = 126 - exponent;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to ±0
    const full = mantissa | 0x800000;
    let half = full >>> shift;
    const remainder = full & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (remainder > midpoint || (remainder === midpoint && (half & 1) !== 0)) half++; // may carry into the smallest normal
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // a carry out of the mantissa correctly bumps the exponent (and 65520+ becomes Inf)
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

export function float32ToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  return float32BitsToFloat16Bits(f32ScratchBits[0]!);
}

/** binary16 bits → the exact number (for tests and reading back). */
export function float16BitsToFloat32(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Converts a whole chunk; works on the bit view to avoid a per-element scratch round trip. */
export function float32ArrayToFloat16Bits(source: Float32Array, target = new Uint16Array(source.length)): Uint16Array {
  const bits = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const exponent = (b >>> 23) & 0xff;
    if (exponent > 112 && exponent < 142) {
      // inlined common case (a normal binary16 that cannot overflow): same rounding as float32BitsToFloat16Bits
      let half = ((exponent - 112) << 10) | ((b & 0x7fffff) >>> 13);
      const remainder = b & 0x1fff;
      if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) !== 0)) half++;
      target[i] = ((b >>> 16) & 0x8000) | half;
    } else {
      target[i] = float32BitsToFloat16Bits(b);
    }
  }
  return target;
}

// --- serialization ---------------------------------------------------------------------------------------

/** Growable little-endian byte buffer for the header (metadata + tensor infos are at most a few MB). */
class ByteWriter {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
  u8(v: number): void { this.reserve(1); this.buffer.writeUInt8(v, this.length); this.length += 1; }
  u32(v: number): void { this.reserve(4); this.buffer.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.buffer.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.buffer.writeFloatLE(v, this.length); this.length += 4; }
  u64(v: number | bigint): void { this.reserve(8); this.buffer.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  /** gguf_string: u64 byte length, UTF-8 bytes, no terminator */
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }
  padTo(alignment: number): void {
    const padding = paddingFor(this.length, alignment);
    this.reserve(padding);
    this.buffer.fill(0, this.length, this.length + padding);
    this.length += padding;
  }
  bytes(): Buffer { return this.buffer.subarray(0, this.length); }
}

function paddingFor(offset: number, alignment: number): number {
  return (alignment - (offset % alignment)) % alignment;
}

function writeValue(out: ByteWriter, key: string, v: GgufValue): void {
  switch (v.type) {
    case 'uint8': out.u32(GgufValueType.UINT8); out.u8(v.value); return;
    case 'int32': out.u32(GgufValueType.INT32); out.i32(v.value); return;
    case 'uint32': out.u32(GgufValueType.UINT32); out.u32(v.value); return;
    case 'uint64': out.u32(GgufValueType.UINT64); out.u64(v.value); return;
    case 'float32': out.u32(GgufValueType.FLOAT32); out.f32(v.value); return;
    case 'bool': out.u32(GgufValueType.BOOL); out.u8(v.value ? 1 : 0); return;
    case 'string': out.u32(GgufValueType.STRING); out.str(v.value); return;
    case 'array': {
      out.u32(GgufValueType.ARRAY);
      if (v.itemType === 'string') {
        out.u32(GgufValueType.STRING);
        out.u64(v.value.length);
        for (const s of v.value) out.str(s);
        return;
      }
      const itemType = { int32: GgufValueType.INT32, uint32: GgufValueType.UINT32, float32: GgufValueType.FLOAT32 }[v.itemType];
      const writeItem = { int32: out.i32, uint32: out.u32, float32: out.f32 }[v.itemType].bind(out);
      out.u32(itemType);
      out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) writeItem(v.value[i]!);
      return;
    }
    default:
      throw new Error(`gguf: unsupported value type for ${key}`);
  }
}

export function tensorByteSize(tensor: Pick<GgufTensorSpec, 'shape' | 'type'>): number {
  return tensor.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[tensor.type];
}

export interface GgufWriteOptions {
  /** written as general.alignment (unless the caller's metadata already holds it) */
  alignment?: number;
}

export interface GgufWriteResult {
  bytes: number;
  dataOffset: number;
  tensorOffsets: Map<string, number>;
}

/** Writes a complete GGUF file. `metadata` is written in insertion order. */
export async function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufValue> | Record<string, GgufValue>,
  tensors: readonly GgufTensorSpec[],
  options: GgufWriteOptions = {},
): Promise<GgufWriteResult> {
  const entries = new Map(metadata instanceof Map ? metadata : Object.entries(metadata));
  const alignmentValue = entries.get('general.alignment');
  const alignment = alignmentValue?.type === 'uint32' ? alignmentValue.value : (options.alignment ?? GGUF_DEFAULT_ALIGNMENT);
  if (!alignmentValue) entries.set('general.alignment', gguf.u32(alignment));
  if (alignment <= 0 || alignment % 8 !== 0) throw new Error(`gguf: alignment ${alignment} must be a positive multiple of 8`);

  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`gguf: duplicate tensor ${t.name}`);
    names.add(t.name);
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new Error(`gguf: tensor ${t.name} has an invalid shape [${t.shape.join(', ')}]`);
    }
  }

  const header = new ByteWriter();
  for (const c of GGUF_MAGIC) header.u8(c.charCodeAt(0));
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(entries.size);
  for (const [key, value] of entries) {
    header.str(key);
    writeValue(header, key, value);
  }
  const tensorOffsets = new Map<string, number>();
  let relativeOffset = 0;
  for (const t of tensors) {
    header.str(t.name);
    header.u32(t.shape.length);
    for (const d of t.shape) header.u64(d);
    header.u32(t.type);
    header.u64(relativeOffset);
    tensorOffsets.set(t.name, relativeOffset);
    const size = tensorByteSize(t);
    relativeOffset += size + paddingFor(size, alignment);
  }
  header.padTo(alignment);
  const dataOffset = header.length;

  // F32 chunks are written straight from their typed-array memory, which is only GGUF's byte order on LE hosts
  if (endianness() !== 'LE') throw new Error('gguf: this writer needs a little-endian host');
  const file = await open(path, 'w');
  try {
    let position = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    await write(header.bytes());
    let f16Scratch = new Uint16Array(0);
    for (const t of tensors) {
      const expected = t.shape.reduce((a, b) => a * b, 1);
      let written = 0;
      for (const chunk of t.data()) {
        written += chunk.length;
        if (written > expected) throw new Error(`gguf: tensor ${t.name} got more than ${expected} values`);
        if (t.type === GgmlTensorType.F32) {
          await write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } else {
          if (f16Scratch.length < chunk.length) f16Scratch = new Uint16Array(chunk.length);
          const halves = float32ArrayToFloat16Bits(chunk, f16Scratch.subarray(0, chunk.length));
          await write(new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength));
        }
      }
      if (written !== expected) throw new Error(`gguf: tensor ${t.name} got ${written} values, expected ${expected}`);
      // pad after every tensor, the last included, so the data section is exactly what ggml computes
      await write(new Uint8Array(paddingFor(tensorByteSize(t), alignment)));
    }
    if (position !== dataOffset + relativeOffset) throw new Error('gguf: internal size mismatch');
    return { bytes: position, dataOffset, tensorOffsets };
  } finally {
    await file.close();
  }
}
