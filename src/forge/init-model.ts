/**
 * The forge's untrained model: a Llama-architecture GGUF with F32 weights (llama.cpp's training API trains F32
 * tensors), initialised the usual way for training from scratch (GPT-2): every matrix and the embeddings
 * ~N(0, 0.02²), the projections that write into the residual stream (attn_output, ffn_down) scaled down by
 * 1/sqrt(2·nLayer) so the residual stream's variance does not grow with depth, RMSNorm gains exactly 1.
 * token_embd and output are separate tensors: tied embeddings train badly with llama.cpp's optimizer here.
 * The normal samples are random-llama.ts's (a sum of four uniforms: exact variance, tails cut at ±3.5σ, like
 * the truncated normal many trainers initialise with).
 *
 * Tensor names, shapes, order and metadata come from random-llama.ts, so both model families stay in step.
 *
 * Every tensor trains, attention included: the trainer (native/src/train-graph.cc) computes attention inside its
 * own graph. llama.cpp's own training graph would not do: it routes K and V through the KV cache, where the
 * gradient stops (llama.cpp PR #28520), and the model it trains cannot beat a bigram model.
 */
import { GgmlTensorType, writeGguf, type GgufTensorSpec } from '../gguf/gguf-writer.js';
import { llamaMetadata, llamaTensorLayout, normalRows, validateLlamaShape, type LlamaShape } from '../models/random-llama.js';
import type { SpmVocab } from '../models/spm-vocab.js';

export const INIT_STD = 0.02;

export interface InitialModelOptions {
  vocab: SpmVocab;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  /** defaults to nHead */
  nHeadKv?: number;
  nFf: number;
  nCtxTrain: number;
  seed: number;
  chatTemplate: string;
  /** general.name; defaults to "storyworld" */
  name?: string;
}

export interface InitialModelResult {
  path: string;
  bytes: number;
  nParams: number;
}

function shapeOf(o: InitialModelOptions): LlamaShape {
  const shape: LlamaShape = { nEmbd: o.nEmbd, nLayer: o.nLayer, nHead: o.nHead, nFf: o.nFf, nCtxTrain: o.nCtxTrain, vocabSize: o.vocab.tokens.length };
  return o.nHeadKv === undefined ? shape : { ...shape, nHeadKv: o.nHeadKv };
}

/** The tensors, each from its own PRNG stream of (seed, tensor name). */
export function initialTensors(o: InitialModelOptions): GgufTensorSpec[] {
  const residualOutputStd = INIT_STD / Math.sqrt(2 * o.nLayer);
  return llamaTensorLayout(shapeOf(o)).map(({ name, role, shape }): GgufTensorSpec => {
    const [rowLength, rows = 1] = shape as [number, number?];
    switch (role) {
      case 'attn_norm':
      case 'ffn_norm':
      case 'output_norm':
        return { name, shape, type: GgmlTensorType.F32, data: () => [new Float32Array(rowLength).fill(1)] };
      case 'attn_output':
      case 'ffn_down':
        return { name, shape, type: GgmlTensorType.F32, data: () => normalRows(o.seed, name, rowLength, rows, residualOutputStd) };
      default:
        return { name, shape, type: GgmlTensorType.F32, data: () => normalRows(o.seed, name, rowLength, rows, INIT_STD) };
    }
  });
}

export async function writeInitialModel(filePath: string, options: InitialModelOptions): Promise<InitialModelResult> {
  const shape = shapeOf(options);
  validateLlamaShape(shape, 'forge model');
  const tensors = initialTensors(options);
  const metadata = llamaMetadata(shape, {
    name: options.name ?? 'storyworld',
    fileType: 0, // LLAMA_FTYPE_ALL_F32
    vocab: options.vocab,
    chatTemplate: options.chatTemplate,
  });
  const { bytes } = await writeGguf(filePath, metadata, tensors);
  const nParams = tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  return { path: filePath, bytes, nParams };
}
