/**
 * Captured activations on disk: a safetensors file holding one 2-D tensor `activations` [rows, d_in]
 * (F32 when steerd writes it), with where it came from in the string metadata (`hook_layer`, `hook_name`,
 * `model`, ...). Being plain safetensors, Python reads it with `safetensors.numpy.load_file`, and activations
 * captured elsewhere can be handed to `steerd sae train` as they are: F16, BF16 and F64 are converted on read,
 * and a file whose only tensor is 2-D is accepted whatever the tensor is called.
 *
 * Both directions stream. A capture does not know its row count up front, so the writer reserves room for
 * the largest possible header (space-padded JSON, as the format allows), appends rows as they come and
 * rewrites the header with the final shape on close, then renames the file into place so no reader ever sees
 * a half-written capture. The reader reads any range of rows straight from the file, so a training set larger
 * than memory can be sampled or streamed in chunks.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { bf16ToF32, f16ToF32 } from '../float-formats.js';
import { SafetensorsFile } from '../safetensors.js';

export const ACTIVATIONS_TENSOR = 'activations';

const ELEMENT_BYTES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const;
type ActivationsDtype = keyof typeof ELEMENT_BYTES;
/** widest integer the header may have to hold: reserving its digits keeps the header's size fixed */
const LARGEST = Number.MAX_SAFE_INTEGER;
/** fs reads and writes are capped at 2 GiB; stay well under */
const MAX_IO_BYTES = 1 << 30;

export class ActivationsWriter {
  private rowCount = 0;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly dIn: number,
    private readonly temporary: string,
    private readonly handle: FileHandle,
    private readonly metadata: Readonly<Record<string, string>>,
    private readonly headerBytes: number,
  ) {}

  static async create(path: string, dIn: number, metadata: Readonly<Record<string, string>> = {}): Promise<ActivationsWriter> {
    if (!Number.isSafeInteger(dIn) || dIn < 1) throw new Error(`d_in must be a positive integer (got ${dIn})`);
    if (endianness() !== 'LE') throw new Error('big-endian hosts are not supported');
    const headerBytes = paddedHeaderLength(headerJson(metadata, LARGEST, dIn, LARGEST));
    const temporary = `${path}.${process.pid}.partial`;
    const handle = await open(temporary, 'w');
    const writer = new ActivationsWriter(path, dIn, temporary, handle, metadata, headerBytes);
    try {
      await writer.writeHeader();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return writer;
  }

  get rows(): number {
    return this.rowCount;
  }

  /** Appends whole rows (a multiple of d_in values). */
  async append(rows: Float32Array): Promise<void> {
    if (this.closed) throw new Error(`${this.path}: the activations writer is closed`);
    if (rows.length % this.dIn !== 0) throw new Error(`${this.path}: appended ${rows.length} values, not whole rows of d_in ${this.dIn}`);
    const bytes = new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength);
    await writeAll(this.handle, bytes, 8 + this.headerBytes + this.rowCount * this.dIn * 4);
    this.rowCount += rows.length / this.dIn;
  }

  /** Writes the final header and moves the file into place. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.writeHeader();
      await this.handle.close();
      this.closed = true;
      await rename(this.temporary, this.path);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Discards the partial file. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.temporary, { force: true });
  }

  private async writeHeader(): Promise<void> {
    const json = headerJson(this.metadata, this.rowCount, this.dIn, this.rowCount * this.dIn * 4);
    const header = Buffer.alloc(8 + this.headerBytes, ' ');
    header.writeBigUInt64LE(BigInt(this.headerBytes), 0);
    header.write(json, 8, 'utf8');
    await writeAll(this.handle, header, 0);
  }
}

export class ActivationsReader {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** the tensor read (normally `activations`) */
    readonly tensor: string,
    readonly dtype: ActivationsDtype,
    readonly rows: number,
    readonly dIn: number,
    private readonly dataStart: number,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(path: string): Promise<ActivationsReader> {
    // SafetensorsFile validates the header (offsets, sizes, truncation); the rows are read with our own handle
    const file = await SafetensorsFile.open(path);
    const { tensors, metadata } = file;
    await file.close();
    const twoD = [...tensors.entries()].filter(([, t]) => t.shape.length === 2);
    const picked = tensors.has(ACTIVATIONS_TENSOR) ? ([ACTIVATIONS_TENSOR, tensors.get(ACTIVATIONS_TENSOR)!] as const) : twoD.length === 1 ? twoD[0]! : null;
    if (!picked) {
      const names = [...tensors.entries()].map(([n, t]) => `${n} [${t.shape.join(', ')}]`).join(', ') || 'none';
      throw new Error(`${path}: no "${ACTIVATIONS_TENSOR}" tensor and not exactly one 2-D tensor to use instead (tensors: ${names})`);
    }
    const [name, info] = picked;
    if (info.shape.length !== 2) throw new Error(`${path}: tensor "${name}" has shape [${info.shape.join(', ')}]; expected [rows, d_in]`);
    if (!(info.dtype in ELEMENT_BYTES)) {
      throw new Error(`${path}: tensor "${name}" has dtype ${info.dtype}; supported: ${Object.keys(ELEMENT_BYTES).join(', ')}`);
    }
    const [rows, dIn] = info.shape as [number, number];
    if (dIn < 1) throw new Error(`${path}: tensor "${name}" has rows of width 0`);
    const handle = await open(path, 'r');
    return new ActivationsReader(path, handle, name, info.dtype as ActivationsDtype, rows, dIn, info.begin, metadata);
  }

  /** Rows [rowFrom, rowFrom + rowCount) as float32, into `into` when given (at least rowCount·d_in long). */
  async read(rowFrom: number, rowCount: number, into?: Float32Array): Promise<Float32Array> {
    if (!Number.isSafeInteger(rowFrom) || !Number.isSafeInteger(rowCount) || rowFrom < 0 || rowCount < 0 || rowFrom + rowCount > this.rows) {
      throw new RangeError(`${this.path}: rows [${rowFrom}, ${rowFrom + rowCount}) are outside [0, ${this.rows})`);
    }
    const count = rowCount * this.dIn;
    const out = into ? into.subarray(0, count) : new Float32Array(count);
    if (out.length < count) throw new RangeError(`${this.path}: the output holds ${into!.length} values; ${count} needed`);
    const width = ELEMENT_BYTES[this.dtype];
    const position = this.dataStart + rowFrom * this.dIn * width;
    if (this.dtype === 'F32') {
      await this.readBytes(new Uint8Array(out.buffer, out.byteOffset, count * 4), position);
    } else if (this.dtype === 'F64') {
      const wide = new Float64Array(count);
      await this.readBytes(new Uint8Array(wide.buffer), position);
      out.set(wide);
    } else {
      const half = new Uint16Array(count);
      await this.readBytes(new Uint8Array(half.buffer), position);
      if (this.dtype === 'F16') f16ToF32(half, out);
      else bf16ToF32(half, out);
    }
    return out;
  }

  /** The rows in order, `rowsPerChunk` at a time; each chunk's array is reused for the next one. */
  async *chunks(rowsPerChunk = 16_384): AsyncGenerator<{ rowFrom: number; rows: number; data: Float32Array }> {
    const buffer = new Float32Array(Math.min(rowsPerChunk, Math.max(1, this.rows)) * this.dIn);
    for (let rowFrom = 0; rowFrom < this.rows; rowFrom += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, this.rows - rowFrom);
      yield { rowFrom, rows, data: await this.read(rowFrom, rows, buffer) };
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async readBytes(into: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < into.length; ) {
      const { bytesRead } = await this.handle.read(into, done, Math.min(into.length - done, MAX_IO_BYTES), position + done);
      if (bytesRead === 0) throw new Error(`${this.path}: file is truncated`);
      done += bytesRead;
    }
  }
}

/** Writes a whole capture at once. */
export async function writeActivations(path: string, rows: Float32Array, dIn: number, metadata?: Readonly<Record<string, string>>): Promise<void> {
  const writer = await ActivationsWriter.create(path, dIn, metadata);
  try {
    await writer.append(rows);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.close();
}

/** Reads the first `maxRows` rows (all by default) into one array. */
export async function readActivations(
  path: string,
  options: { maxRows?: number } = {},
): Promise<{ rows: Float32Array; count: number; dIn: number; metadata: Readonly<Record<string, string>> }> {
  const reader = await ActivationsReader.open(path);
  try {
    const count = Math.min(reader.rows, options.maxRows ?? Infinity);
    return { rows: await reader.read(0, count), count, dIn: reader.dIn, metadata: reader.metadata };
  } finally {
    await reader.close();
  }
}

function headerJson(metadata: Readonly<Record<string, string>>, rows: number, dIn: number, dataBytes: number): string {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  header[ACTIVATIONS_TENSOR] = { dtype: 'F32', shape: [rows, dIn], data_offsets: [0, dataBytes] };
  return JSON.stringify(header);
}

/** The header's byte length padded so the data starts 8-byte aligned, as the reference writer does. */
function paddedHeaderLength(json: string): number {
  const length = Buffer.byteLength(json, 'utf8');
  return length + ((8 - ((8 + length) % 8)) % 8);
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, Math.min(bytes.length - done, MAX_IO_BYTES), position + done);
    done += bytesWritten;
  }
}
