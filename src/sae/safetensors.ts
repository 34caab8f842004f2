/**
 * A minimal safetensors reader and writer (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON header `{ name: { dtype, shape, data_offsets: [begin, end] },
 * "__metadata__"?: { string: string } }`, then the raw little-endian tensor bytes, offsets relative to the
 * end of the header.
 *
 * Tensors are read one at a time straight from the file into their final typed array, so a 1 GB SAE costs
 * 1 GB of memory rather than 2 (file buffer + converted copy), and 16-bit tensors only a 2-byte staging buffer
 * per element.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { bf16ToF32, f16ToF32 } from './float-formats.js';

/** dtypes we convert to float32; the bytes per element of each */
const FLOAT_DTYPES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
type FloatDtype = keyof typeof FLOAT_DTYPES;

/** The format's own sanity limit (the reference implementation refuses larger headers). */
const MAX_HEADER_BYTES = 100_000_000;
/** fs reads are capped at 2 GiB; stay well under */
const MAX_READ_CHUNK = 1 << 30;

export interface TensorInfo {
  dtype: string;
  shape: number[];
  /** absolute byte range in the file */
  begin: number;
  end: number;
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | null,
    readonly detail: string,
  ) {
    super(`${file}${tensor === null ? '' : `: tensor "${tensor}"`}: ${detail}`);
    this.name = 'SafetensorsError';
  }
}

/** An open safetensors file: header parsed and checked, tensors read on demand. Close it when done. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    if (endianness() !== 'LE') throw new SafetensorsError(path, null, 'big-endian hosts are not supported');
    const handle = await open(path, 'r');
    try {
      const { tensors, metadata } = await readHeader(path, handle);
      return new SafetensorsFile(path, handle, tensors, metadata);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Reads one tensor, converted to float32. */
  async read(name: string): Promise<Tensor> {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(this.path, name, 'missing from the file');
    if (!(info.dtype in FLOAT_DTYPES)) {
      throw new SafetensorsError(
        this.path,
        name,
        `unsupported dtype ${info.dtype} (supported: ${Object.keys(FLOAT_DTYPES).join(', ')})`,
      );
    }
    const dtype = info.dtype as FloatDtype;
    const count = info.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    if (dtype === 'F32') {
      await this.readBytes(name, info, new Uint8Array(data.buffer));
    } else if (dtype === 'F64') {
      const wide = new Float64Array(count);
      await this.readBytes(name, info, new Uint8Array(wide.buffer));
      data.set(wide);
    } else {
      const half = new Uint16Array(count);
      await this.readBytes(name, info, new Uint8Array(half.buffer));
      if (dtype === 'F16') f16ToF32(half, data);
      else bf16ToF32(half, data);
    }
    return { shape: [...info.shape], data };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async readBytes(name: string, info: TensorInfo, into: Uint8Array): Promise<void> {
    let done = 0;
    while (done < into.length) {
      const want = Math.min(into.length - done, MAX_READ_CHUNK);
      const { bytesRead } = await this.handle.read(into, done, want, info.begin + done);
      if (bytesRead === 0) {
        throw new SafetensorsError(this.path, name, `file is truncated (tensor data ends at byte ${info.end})`);
      }
      done += bytesRead;
    }
  }
}

/** Reads every tensor of a file (convenient for small files and tests). */
export async function readSafetensors(path: string): Promise<Map<string, Tensor>> {
  const file = await SafetensorsFile.open(path);
  try {
    const out = new Map<string, Tensor>();
    for (const name of file.tensors.keys()) out.set(name, await file.read(name));
    return out;
  } finally {
    await file.close();
  }
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer | null> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) return null;
    done += bytesRead;
  }
  return buf;
}

async function readHeader(
  path: string,
  handle: FileHandle,
): Promise<{ tensors: Map<string, TensorInfo>; metadata: Record<string, string> }> {
  const fail = (detail: string): never => {
    throw new SafetensorsError(path, null, detail);
  };
  const fileSize = (await handle.stat()).size;
  const prefix = await readExactly(handle, 8, 0);
  if (!prefix) return fail(`file is truncated (${fileSize} bytes; a safetensors file starts with an 8-byte header length)`);
  const headerLength = Number(prefix.readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES) return fail(`bad header: header length ${headerLength} is implausible; not a safetensors file?`);
  const headerBytes = await readExactly(handle, headerLength, 8);
  if (!headerBytes) return fail(`file is truncated (header claims ${headerLength} bytes, file has ${fileSize})`);

  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (err) {
    return fail(`bad header: not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('bad header: not a JSON object');

  const dataStart = 8 + headerLength;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw === 'object' && raw !== null) metadata = raw as Record<string, string>;
      continue;
    }
    const bad = (detail: string): never => {
      throw new SafetensorsError(path, name, `bad header: ${detail}`);
    };
    if (typeof raw !== 'object' || raw === null) return bad('entry is not an object');
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') return bad('dtype is missing');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return bad('shape is not a list of non-negative integers');
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      return bad('data_offsets is not [begin, end]');
    }
    const [begin, end] = offsets as [number, number];
    const elementBytes = FLOAT_DTYPES[dtype as FloatDtype] as number | undefined;
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elementBytes !== undefined && end - begin !== count * elementBytes) {
      return bad(`data_offsets span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${count * elementBytes}`);
    }
    if (dataStart + end > fileSize) {
      throw new SafetensorsError(path, name, `file is truncated (tensor data ends at byte ${dataStart + end}, file has ${fileSize})`);
    }
    tensors.set(name, { dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end });
  }
  return { tensors, metadata };
}

export interface TensorToWrite {
  shape: readonly number[];
  /** float32 values, or (for tests and other dtypes) the tensor's raw little-endian bytes in `dtype` */
  data: Float32Array | Uint8Array;
  /** defaults to F32; anything else requires `data` to be raw bytes */
  dtype?: string;
}

/**
 * Writes a safetensors file. The file is written beside the target and renamed into place, so a crash or a
 * concurrent reader never sees half a file (the trainer overwrites checkpoints).
 */
export async function writeSafetensors(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const dtype = tensor.dtype ?? 'F32';
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (dtype === 'F32' && tensor.data instanceof Float32Array && tensor.data.length !== count) {
      throw new SafetensorsError(path, name, `has ${tensor.data.length} values but shape [${tensor.shape.join(', ')}] needs ${count}`);
    }
    if (dtype !== 'F32' && !(tensor.data instanceof Uint8Array)) {
      throw new SafetensorsError(path, name, `dtype ${dtype} must be given as raw bytes`);
    }
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  // Pad the header with spaces to a multiple of 8 so the data that follows is aligned, as the reference
  // implementation does; readers that map the file can then view F32 data in place.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));

  const temporary = `${path}.${process.pid}.partial`;
  const handle = await open(temporary, 'w');
  try {
    for (const chunk of [prefix, headerBytes, ...chunks]) await writeAll(handle, chunk);
    await handle.close();
    await rename(temporary, path);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw err;
  }
}

/** FileHandle.write may write less than asked; loop until the whole chunk is out. */
async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.length - done, MAX_READ_CHUNK));
    done += bytesWritten;
  }
}
