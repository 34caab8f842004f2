/**
 * NumPy .npy arrays and .npz archives (a zip of .npy files, stored or deflated), enough to read SAE weights:
 * little-endian float16/32/64, C order. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 *
 * An .npy file is the magic "\x93NUMPY", a version (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), then a
 * Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2304, 16384), } padded with
 * spaces, then the raw data.
 */
import { readFile, stat } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { f16ToF32 } from './float-formats.js';
import type { Tensor } from './safetensors.js';
import { SaeLoadError } from './sae-load-error.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** fs.readFile's limit; larger archives would need a streaming reader */
const MAX_NPZ_BYTES = 2 ** 31 - 1;
const ITEM_BYTES: Record<string, number> = { f2: 2, f4: 4, f8: 8 };

/** Parses one .npy file's bytes into float32; `file` and `name` only label errors. */
export function parseNpy(bytes: Uint8Array, file: string, name: string): Tensor {
  const fail = (detail: string): never => {
    throw new SaeLoadError(file, name, detail);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) return fail('is not a .npy array (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  if (major < 1 || major > 3) return fail(`uses .npy format version ${major}, which is not supported (1 to 3 are)`);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = (major === 1 ? 10 : 12) + headerLength;
  if (dataStart > bytes.length) return fail('is truncated (in its header)');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(major === 1 ? 10 : 12, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail(`has an unreadable .npy header: ${header.trim()}`);
  // '<' little-endian, '=' native (little on every host we run on), '|' not applicable
  const dtype = /^[<=|](f[248])$/.exec(descr)?.[1];
  if (!dtype) return fail(`has dtype '${descr}'; supported: little-endian float16, float32, float64 ('<f2', '<f4', '<f8')`);
  if (fortran === 'True') return fail('is stored in Fortran (column-major) order; save it in C order');
  const shape = shapeText
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .map((d) => (/^\d+$/.test(d) ? Number(d) : fail(`has an unreadable shape (${shapeText})`)));

  const count = shape.reduce((a, b) => a * b, 1);
  const itemBytes = ITEM_BYTES[dtype]!;
  if (bytes.length - dataStart !== count * itemBytes) {
    return fail(`holds ${bytes.length - dataStart} data bytes but shape (${shape.join(', ')}) of '${descr}' needs ${count * itemBytes}`);
  }
  // slice() copies into a fresh, aligned buffer, so the result does not pin the whole archive in memory.
  const raw = bytes.buffer.slice(bytes.byteOffset + dataStart, bytes.byteOffset + bytes.length);
  if (dtype === 'f4') return { shape, data: new Float32Array(raw) };
  if (dtype === 'f8') return { shape, data: Float32Array.from(new Float64Array(raw)) };
  return { shape, data: f16ToF32(new Uint16Array(raw)) };
}

/**
 * Reads the named arrays (without ".npy") from an .npz archive; a name the archive lacks is absent from the result.
 * Entries are extracted one at a time so the peak is the archive plus one array, not the archive twice.
 */
export async function readNpz(file: string, names: readonly string[]): Promise<Map<string, Tensor>> {
  let archive: Uint8Array;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_NPZ_BYTES) throw new SaeLoadError(file, 'file', `is ${size} bytes; .npz archives over 2 GiB are not supported (convert it to the SAELens layout)`);
    archive = await readFile(file);
  } catch (err) {
    if (err instanceof SaeLoadError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new SaeLoadError(file, 'file', 'is missing');
    throw new SaeLoadError(file, 'file', `cannot be read: ${(err as Error).message}`);
  }
  const out = new Map<string, Tensor>();
  for (const name of names) {
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(archive, { filter: (entry) => entry.name === `${name}.npy` });
    } catch (err) {
      throw new SaeLoadError(file, 'file', `is not a readable .npz (zip) archive: ${(err as Error).message}`);
    }
    const bytes = entries[`${name}.npy`];
    if (bytes) out.set(name, parseNpy(bytes, file, name));
  }
  return out;
}
