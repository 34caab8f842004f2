/**
 * Checks shared by the SAE loaders (SAELens, sparsify, Llama Scope, Gemma Scope): JSON configs, tensors with the
 * expected shape and only finite values, and the SAE's fit to the model. Every failure is a SaeLoadError naming
 * the file and the field, because a mismatched SAE silently steers garbage.
 */
import { readFile } from 'node:fs/promises';
import { SafetensorsError, SafetensorsFile, type Tensor } from './safetensors.js';
import { SaeLoadError } from './sae-load-error.js';

export interface ModelShape {
  nEmbd: number;
  nLayer: number;
}

/** Reads a JSON object; `layout` completes "... is missing (<layout>)" so the user learns what was expected. */
export async function readJsonObject(file: string, layout: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new SaeLoadError(file, 'file', `is missing (${layout})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SaeLoadError(file, 'file', `is not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SaeLoadError(file, 'file', 'is not a JSON object');
  return value as Record<string, unknown>;
}

/** Typed access to one config object, failing with the file and the key. */
export class CfgFields {
  constructor(
    readonly file: string,
    readonly cfg: Record<string, unknown>,
  ) {}

  fail(field: string, detail: string): never {
    throw new SaeLoadError(this.file, field, detail);
  }

  positiveInt(field: string): number {
    const v = this.cfg[field];
    if (v === undefined) return this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return this.fail(field, `is ${JSON.stringify(v)}; expected a positive integer`);
    return v;
  }

  /** A positive integer, or undefined when absent, null or 0 (sparsify writes num_latents 0 for "use expansion_factor"). */
  optionalPositiveInt(field: string): number | undefined {
    const v = this.cfg[field];
    if (v === undefined || v === null || v === 0) return undefined;
    return this.positiveInt(field);
  }

  finiteNumber(field: string): number {
    const v = this.cfg[field];
    if (v === undefined) return this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(field, `is ${JSON.stringify(v)}; expected a number`);
    return v;
  }

  boolean(field: string, fallback: boolean): boolean {
    const v = this.cfg[field] ?? fallback;
    if (typeof v !== 'boolean') return this.fail(field, `is ${JSON.stringify(v)}; expected true or false`);
    return v;
  }

  /** Refuses options that change the maths in a way a plain SAE cannot express. */
  refuseIf(field: string, bad: (v: unknown) => boolean, why: string): void {
    const v = this.cfg[field];
    if (v !== undefined && v !== null && bad(v)) this.fail(field, `is ${JSON.stringify(v)}; ${why}`);
  }
}

/** Checks one tensor's shape and values; `shapeText` names the dimensions, e.g. "[d_sae, d_in]". */
export function checkTensor(file: string, name: string, tensor: Tensor, shape: readonly number[], shapeText: string): Float32Array {
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new SaeLoadError(file, name, `has shape [${tensor.shape.join(', ')}]; expected ${shapeText} = [${shape.join(', ')}]`);
  }
  const bad = tensor.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new SaeLoadError(file, name, `holds a non-finite value (${tensor.data[bad]}) at flat index ${bad}`);
  return tensor.data;
}

/** Reads and checks one tensor of an open safetensors file. */
export async function readTensor(
  weights: SafetensorsFile,
  name: string,
  shape: readonly number[],
  shapeText: string,
): Promise<Float32Array> {
  if (!weights.has(name)) throw new SaeLoadError(weights.path, name, 'is missing');
  return checkTensor(weights.path, name, await weights.read(name), shape, shapeText);
}

/** Opens a safetensors file, runs `use`, closes it; every error comes out as a SaeLoadError. */
export async function withSafetensors<T>(file: string, use: (weights: SafetensorsFile) => Promise<T>): Promise<T> {
  let weights: SafetensorsFile;
  try {
    weights = await SafetensorsFile.open(file);
  } catch (err) {
    throw asLoadError(file, err);
  }
  try {
    return await use(weights);
  } catch (err) {
    throw asLoadError(file, err);
  } finally {
    await weights.close();
  }
}

export function asLoadError(file: string, err: unknown): Error {
  if (err instanceof SaeLoadError) return err;
  if (err instanceof SafetensorsError) return new SaeLoadError(err.file, err.tensor ?? 'file', err.detail);
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new SaeLoadError(file, 'file', 'is missing');
  return new SaeLoadError(file, 'file', `cannot be read: ${(err as Error).message}`);
}

/** The SAE's input width must be the model's residual width. */
export function checkWidth(file: string, field: string, dIn: number, model: ModelShape): void {
  if (dIn !== model.nEmbd) throw new SaeLoadError(file, field, `is ${dIn} but the model's residual width (n_embd) is ${model.nEmbd}`);
}

/** The layer the SAE reads must exist in the model; `source` says where the layer came from. */
export function checkLayer(file: string, field: string, layer: number, source: string, model: ModelShape): void {
  if (layer >= model.nLayer) {
    throw new SaeLoadError(file, field, `${source} reads layer ${layer} but the model has ${model.nLayer} layers (0..${model.nLayer - 1})`);
  }
}
