/**
 * The forge's settings: the full run (`npm run forge`, within an hour on 2 cores) and a miniature one that the
 * tests run in seconds to keep the pipeline working.
 */
import type { ApplyTo } from '../engine/types.js';

export interface ForgeConfig {
  seed: number;
  corpus: { trainStories: number; trainChats: number; heldoutStories: number; heldoutChats: number };
  vocabSize: number;
  model: { nEmbd: number; nLayer: number; nHead: number; nFf: number };
  training: { window: number; epochs: number; lr: number; lrMin: number; warmupSteps: number; validationShare: number };
  threads: number;
  /** quantize the served model (llama_ftype), or keep F32 */
  quantize: 'q8_0' | 'f32';
  evaluation: { heldoutDocuments: number; conceptSamples: number; conceptMaxTokens: number; temperature: number };
  sae: {
    /** residual rows captured for training (BOS rows skipped) */
    rows: number;
    heldoutRows: number;
    dSae: number;
    k: number;
    epochs: number;
    batchSize: number;
    balance: number;
    /** held-out documents for the loss-recovered measurement */
    downstreamDocuments: number;
    /** rows used to label features */
    labelRows: number;
  };
  steering: {
    concept: string;
    /** how many of the features labelled with the concept are tried, most tied to it first */
    candidates: number;
    /** where the feature is added: every position, or only the prompt's */
    applyTo: ApplyTo[];
    /** add strengths, in multiples of the layer's mean residual norm */
    strengths: number[];
    samples: number;
    maxTokens: number;
  };
}

export const FULL_FORGE: ForgeConfig = {
  seed: 1,
  corpus: { trainStories: 3000, trainChats: 6500, heldoutStories: 300, heldoutChats: 200 },
  vocabSize: 2900,
  model: { nEmbd: 128, nLayer: 4, nHead: 4, nFf: 384 },
  training: { window: 256, epochs: 5, lr: 1.5e-3, lrMin: 1e-4, warmupSteps: 200, validationShare: 0.02 },
  threads: 2,
  quantize: 'q8_0',
  evaluation: { heldoutDocuments: 200, conceptSamples: 10, conceptMaxTokens: 192, temperature: 0.8 },
  sae: { rows: 200_000, heldoutRows: 50_000, dSae: 2048, k: 10, epochs: 4, batchSize: 1024, balance: 0.03, downstreamDocuments: 60, labelRows: 100_000 },
  steering: { concept: 'ocean', candidates: 4, applyTo: ['all', 'prompt'], strengths: [0.25, 0.5, 1, 2, 4, 8], samples: 48, maxTokens: 192 },
};

export const MINI_FORGE: ForgeConfig = {
  seed: 1,
  corpus: { trainStories: 120, trainChats: 80, heldoutStories: 10, heldoutChats: 10 },
  vocabSize: 600,
  model: { nEmbd: 32, nLayer: 2, nHead: 2, nFf: 64 },
  training: { window: 256, epochs: 1, lr: 2e-3, lrMin: 2e-4, warmupSteps: 5, validationShare: 0.05 },
  threads: 1,
  quantize: 'q8_0',
  evaluation: { heldoutDocuments: 5, conceptSamples: 1, conceptMaxTokens: 8, temperature: 0.8 },
  sae: { rows: 3000, heldoutRows: 500, dSae: 64, k: 4, epochs: 1, batchSize: 256, balance: 0.03, downstreamDocuments: 3, labelRows: 2000 },
  steering: { concept: 'ocean', candidates: 2, applyTo: ['all'], strengths: [2], samples: 2, maxTokens: 8 },
};
