/**
 * Trains the forge's language model from its random initialisation with ggml's AdamW (the optimizer llama.cpp's
 * training API wraps) over the addon's own training graph: fixed-length windows over the tokenized corpus, shuffled afresh each epoch (llama.cpp does not
 * shuffle), AdamW with warm-up and cosine decay, a held-out loss after every epoch.
 */
import { loadAddon } from '../native/addon.js';
import { Progress } from './progress.js';
import { mulberry32, shuffleInPlace } from './random.js';

export interface TrainModelOptions {
  initPath: string;
  outPath: string;
  /** tokenized training documents (each with its BOS/EOS) */
  documents: readonly number[][];
  /** tokens per window and per optimizer step; also the model's trained context length */
  window: number;
  epochs: number;
  lr: number;
  lrMin: number;
  warmupSteps: number;
  threads: number;
  seed: number;
  /** share of windows held out each epoch to report a validation loss */
  validationShare: number;
  logFile?: string;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validationLoss: number | null;
  seconds: number;
  tokensPerSecond: number;
}

/** Cuts the concatenated stream into windows of window + 1 tokens (inputs plus the next-token labels). */
export function makeWindows(documents: readonly number[][], window: number): Int32Array[] {
  const stream = documents.flat();
  const out: Int32Array[] = [];
  for (let start = 0; start + window + 1 <= stream.length; start += window) {
    out.push(Int32Array.from(stream.slice(start, start + window + 1)));
  }
  return out;
}

export async function trainModel(o: TrainModelOptions): Promise<EpochRecord[]> {
  const { addon } = await loadAddon('cpu');
  // the optimizer writes the weights: no mmap
  const model = await addon.loadModel(o.initPath, { gpuLayers: 0, useMmap: false });
  const windows = makeWindows(o.documents, o.window);
  const nValidation = Math.max(1, Math.round(windows.length * o.validationShare));
  const random = mulberry32(o.seed);
  // the validation windows stay the same across epochs; the training windows are reshuffled every epoch
  shuffleInPlace(windows, random);
  const validation = windows.slice(0, nValidation);
  const training = windows.slice(nValidation);
  const trainer = addon.createTrainer(model, {
    nCtx: o.window,
    threads: o.threads,
    lr: o.lr,
    lrMin: o.lrMin,
    warmupSteps: o.warmupSteps,
    totalSteps: training.length * o.epochs,
    weightDecay: 0,
  });
  const history: EpochRecord[] = [];
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      shuffleInPlace(training, random);
      const all = new Int32Array((training.length + validation.length) * (o.window + 1));
      [...training, ...validation].forEach((w, i) => all.set(w, i * (o.window + 1)));
      const progress = new Progress(`train epoch ${epoch + 1}/${o.epochs}`, training.length, o.logFile);
      const started = performance.now();
      const poll = setInterval(() => {
        const p = trainer.progress();
        progress.update(p.trainBatches, { lr: p.lr });
      }, 1000);
      let result;
      try {
        result = await trainer.epoch(all, training.length);
      } finally {
        clearInterval(poll);
      }
      progress.update(training.length, { loss: result.trainLoss, val: result.evalLoss ?? NaN });
      const seconds = (performance.now() - started) / 1000;
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: result.trainLoss,
        trainAccuracy: result.trainAccuracy,
        validationLoss: result.evalLoss,
        seconds,
        tokensPerSecond: ((training.length + validation.length) * o.window) / seconds,
      };
      history.push(record);
      progress.log({ ...record });
    }
    trainer.save(o.outPath);
  } finally {
    trainer.dispose();
    model.dispose();
  }
  return history;
}
