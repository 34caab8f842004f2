/**
 * The forge pipeline: corpus → tokenizer → model trained with ggml's optimizer through the addon → evaluation against n-gram
 * baselines → activations through the hook → Top-k SAE (load balancing on, and off for comparison) → labels →
 * the steering demonstration. Writes the served artifacts and a metrics JSON with every figure.
 */
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine/engine.js';
import { LLAMA_FTYPE, loadAddon } from '../native/addon.js';
import { saveSaeLens } from '../sae/saelens.js';
import { evaluateSae, type SaeMetrics } from '../sae/train/metrics.js';
import { trainTopKSae } from '../sae/train/topk-trainer.js';
import type { Intervention } from '../engine/types.js';
import type { Sae } from '../sae/sae.js';
import { SteeringResolver } from '../steering/resolve.js';
import { measureMeanNorms } from '../steering/mean-norms.js';
import { captureActivations } from './capture-activations.js';
import { CONCEPTS, conceptWords, mentionsConcept } from './concepts.js';
import { generateCorpus, HELDOUT_SEED, renderChat, STORYWORLD_CHAT_TEMPLATE, TRAIN_SEED } from './corpus.js';
import { baselinePerplexities, conceptUsage, modelPerplexity } from './evaluate-lm.js';
import type { ForgeConfig } from './forge-config.js';
import { writeInitialModel } from './init-model.js';
import { labelFeatures, type FeatureLabel } from './label-features.js';
import { saeDownstream } from './sae-downstream.js';
import { steeringCheck } from './steering-check.js';
import { buildForgeVocab } from './tokenizer.js';
import { trainModel, type EpochRecord } from './train-model.js';

export interface ForgeResult {
  modelPath: string;
  saeDir: string;
  metricsPath: string;
  metrics: Record<string, unknown>;
}

function stage(name: string): void {
  process.stderr.write(`\n== ${name}\n`);
}

function saeSummary(m: SaeMetrics) {
  const { frequencies: _omit, ...rest } = m;
  return rest;
}

export interface ForgeOptions {
  /**
   * A previous forge output folder whose language model is reused instead of retrained (the later stages — SAE,
   * labels, steering — are then redone): its metrics.json must record the same corpus, vocabulary, model,
   * training, seed, threads and quantization, so the model is exactly what training would produce again.
   */
  reuseModelFrom?: string;
}

/** The settings that determine the trained language model. */
function modelDeterminants(config: ForgeConfig) {
  const { seed, corpus, vocabSize, model, training, threads, quantize } = config;
  return { seed, corpus, vocabSize, model, training, threads, quantize };
}

async function reusableModel(dir: string, config: ForgeConfig): Promise<{ modelPath: string; history: EpochRecord[] }> {
  const previous = JSON.parse(await readFile(path.join(dir, 'metrics.json'), 'utf8')) as { config: ForgeConfig; training: EpochRecord[] };
  const want = JSON.stringify(modelDeterminants(config));
  const have = JSON.stringify(modelDeterminants(previous.config));
  if (want !== have) throw new Error(`${dir}/metrics.json was forged with other model settings: ${have} (now ${want})`);
  return { modelPath: path.join(dir, 'storyworld.gguf'), history: previous.training };
}

export async function runForge(config: ForgeConfig, outDir: string, options: ForgeOptions = {}): Promise<ForgeResult> {
  const started = performance.now();
  const work = path.join(outDir, '.work');
  await mkdir(work, { recursive: true });
  const logFile = path.join(outDir, 'forge-log.jsonl');
  await rm(logFile, { force: true });

  stage('corpus');
  const train = generateCorpus({ seed: TRAIN_SEED + config.seed - 1, stories: config.corpus.trainStories, chats: config.corpus.trainChats });
  const heldout = generateCorpus({ seed: HELDOUT_SEED + config.seed - 1, stories: config.corpus.heldoutStories, chats: config.corpus.heldoutChats });
  process.stderr.write(`train ${train.documents.length} documents (${train.text.length} chars), held-out ${heldout.documents.length}\n`);

  stage('tokenizer and initial model');
  const vocab = buildForgeVocab(train.documents.map((d) => d.text), config.vocabSize);
  const initPath = path.join(work, 'init.gguf');
  await writeInitialModel(initPath, { vocab, ...config.model, nCtxTrain: config.training.window, seed: config.seed, chatTemplate: STORYWORLD_CHAT_TEMPLATE });
  const tokenizerEngine = await Engine.load({ modelPath: initPath, ctx: 4096, parallel: 1, threads: 1, gpu: 'cpu' });
  const tokenizeDoc = (text: string) => [...tokenizerEngine.tokenize(text, { addSpecial: true, parseSpecial: true }), tokenizerEngine.info.eos];
  const trainDocs = train.documents.map((d) => tokenizeDoc(d.text));
  const heldoutDocs = heldout.documents.map((d) => tokenizeDoc(d.text));
  const nVocab = tokenizerEngine.info.nVocab;
  await tokenizerEngine.close();
  const trainTokens = trainDocs.reduce((s, d) => s + d.length, 0);
  process.stderr.write(`vocabulary ${nVocab} tokens; ${trainTokens} training tokens (${(trainTokens / train.text.length).toFixed(3)} per char)\n`);

  stage('language model');
  const modelPath = path.join(outDir, 'storyworld.gguf');
  let history: EpochRecord[];
  if (options.reuseModelFrom) {
    const reused = await reusableModel(options.reuseModelFrom, config);
    process.stderr.write(`reusing the trained model of ${options.reuseModelFrom}\n`);
    if (path.resolve(reused.modelPath) !== path.resolve(modelPath)) {
      await copyFile(reused.modelPath, modelPath);
      // the training's loss log goes with its model
      await copyFile(path.join(options.reuseModelFrom, 'forge-log.jsonl'), logFile).catch(() => undefined);
    }
    history = reused.history;
  } else {
    const trainedPath = path.join(work, 'trained-f32.gguf');
    history = await trainModel({ initPath, outPath: trainedPath, documents: trainDocs, ...config.training, threads: config.threads, seed: config.seed, logFile });
    const { addon } = await loadAddon('cpu');
    // llama_model_save_to_file keeps only the keys llama.cpp models: put the chat template back
    const f32Path = path.join(work, 'storyworld-f32.gguf');
    addon.setGgufStrings(trainedPath, f32Path, { 'tokenizer.chat_template': STORYWORLD_CHAT_TEMPLATE, 'general.name': 'storyworld' });
    if (config.quantize === 'q8_0') await addon.quantizeModel(f32Path, modelPath, LLAMA_FTYPE.Q8_0, config.threads);
    else addon.setGgufStrings(f32Path, modelPath, {});
  }

  stage('evaluation');
  const engine = await Engine.load({ modelPath, ctx: 512, parallel: 8, threads: config.threads, gpu: 'cpu' });
  try {
    const evalDocs = heldoutDocs.slice(0, config.evaluation.heldoutDocuments);
    const baselines = baselinePerplexities(trainDocs, evalDocs, nVocab);
    const perplexity = await modelPerplexity(engine, evalDocs);
    const askFor = (concept: string) =>
      renderChat([{ role: 'user', content: `Tell me a story about ${CONCEPTS.find((c) => c.id === concept)!.topics[0]}.` }]) + '<|im_start|>assistant\n';
    const usage = await conceptUsage(engine, CONCEPTS.map((c) => c.id), askFor, mentionsConcept, {
      samplesPerConcept: config.evaluation.conceptSamples,
      temperature: config.evaluation.temperature,
      maxTokens: config.evaluation.conceptMaxTokens,
      seed: config.seed,
    });

    stage('SAE');
    const layer = Math.floor(engine.info.nLayer / 2);
    const acts = await captureActivations(engine, trainDocs, layer, config.sae.rows, 'capture train activations');
    const heldoutActs = await captureActivations(engine, heldoutDocs, layer, config.sae.heldoutRows, 'capture held-out activations');
    const trainSae = async (balance: number) => {
      const result = await trainTopKSae(acts.rows, engine.info.nEmbd, {
        dSae: config.sae.dSae,
        k: config.sae.k,
        hookLayer: layer,
        epochs: config.sae.epochs,
        batchSize: config.sae.batchSize,
        balance,
        seed: config.seed,
        threads: config.threads,
        onProgress: (p) =>
          process.stderr.write(`sae (balance ${balance}) ${((100 * p.rowsDone) / p.totalRows).toFixed(0)}% fvu ${p.fvu.toFixed(4)} dead ${(100 * p.deadFraction).toFixed(1)}% ${p.rowsPerSecond.toFixed(0)} rows/s\n`),
      });
      const metrics = evaluateSae(result.sae, heldoutActs.rows);
      const downstream = await saeDownstream(engine, result.sae, heldoutDocs.slice(0, config.sae.downstreamDocuments));
      return { sae: result.sae, metrics: saeSummary(metrics), downstream };
    };
    const balanced = await trainSae(config.sae.balance);
    const unbalanced = await trainSae(0);

    stage('labels');
    const labelRows = Math.min(config.sae.labelRows, acts.count);
    const conceptOfWord = new Map<string, string[]>();
    for (const c of CONCEPTS) for (const w of conceptWords(c.id)) conceptOfWord.set(w, [...(conceptOfWord.get(w) ?? []), c.id]);
    const tokenConcepts = (token: number) => {
      const word = engine.tokenText(token).trim().toLowerCase();
      return conceptOfWord.get(word) ?? conceptOfWord.get(word.replace(/s$/, '')) ?? [];
    };
    const context = (row: number) => {
      const doc = trainDocs[acts.documentOf[row]!]!;
      const p = acts.positionOf[row]!;
      return `${engine.detokenize(doc.slice(Math.max(1, p - 8), p))}[[${engine.tokenText(doc[p]!)}]]${engine.detokenize(doc.slice(p + 1, p + 4))}`;
    };
    const labels = labelFeatures({
      sae: balanced.sae,
      rows: acts.rows.subarray(0, labelRows * engine.info.nEmbd),
      tokens: acts.tokens.subarray(0, labelRows),
      tokenText: (t) => engine.tokenText(t),
      tokenConcepts,
      rowConcepts: (row) => train.documents[acts.documentOf[row]!]!.concepts,
      context,
    });
    const saeDir = path.join(outDir, 'sae');
    await mkdir(saeDir, { recursive: true });
    await saveSaeLens(saeDir, withLabels(balanced.sae, labels));
    await writeFile(path.join(saeDir, 'labels.jsonl'), labels.map((l) => JSON.stringify(l)).join('\n') + '\n');

    stage('steering');
    const steering = await steerToConcept(engine, balanced.sae, labels, config);

    const metrics = {
      machine: `${os.cpus()[0]?.model.trim()} · ${os.cpus().length} cores`,
      seed: config.seed,
      threads: config.threads,
      config,
      seconds: Math.round((performance.now() - started) / 1000),
      corpus: { trainDocuments: trainDocs.length, trainTokens, heldoutDocuments: heldoutDocs.length, concepts: CONCEPTS.length },
      model: { ...config.model, nVocab, parameters: undefined as number | undefined, file: path.basename(modelPath), quantization: config.quantize },
      training: history,
      ...(options.reuseModelFrom ? { languageModelReusedFromEarlierRun: true } : {}),
      perplexity: { model: perplexity, ...baselines, belowBigram: 1 - perplexity / baselines.bigram },
      conceptUsage: usage,
      sae: { layer, dSae: config.sae.dSae, k: config.sae.k, balanced: { balance: config.sae.balance, ...balanced.metrics, downstream: balanced.downstream }, unbalanced: { balance: 0, ...unbalanced.metrics, downstream: unbalanced.downstream } },
      labels: { named: labels.filter((l) => l.concept).length, concepts: new Set(labels.map((l) => l.concept).filter(Boolean)).size },
      steering,
    };
    const metricsPath = path.join(outDir, 'metrics.json');
    await writeFile(metricsPath, JSON.stringify(metrics, null, 2) + '\n');
    await rm(work, { recursive: true, force: true });
    const size = (await stat(modelPath)).size;
    process.stderr.write(`\nforge done in ${metrics.seconds} s: ${modelPath} (${(size / 2 ** 20).toFixed(1)} MiB)\n`);
    return { modelPath, saeDir, metricsPath, metrics };
  } finally {
    await engine.close();
  }
}

function withLabels(sae: Sae, labels: FeatureLabel[]): Sae {
  for (const l of labels) sae.labels.set(l.index, l.description);
  return sae;
}

/**
 * Finds the concept's features by their labels and sweeps the strength on an open request. The candidates are
 * the features labelled with the concept, most tied to it first; the chosen arm is the one that writes about the
 * concept most often while its answers stay within twice the unsteered answers' perplexity (the issue's bar),
 * and every arm is reported. Each feature is added at every position (`all`) and, as a second way, only over
 * the prompt (`prompt`: the answer is then decoded unsteered and reads the concept back through attention).
 */
export async function steerToConcept(engine: Engine, sae: Sae, labels: FeatureLabel[], config: ForgeConfig) {
  const { concept } = config.steering;
  // the features most tied to the concept, by its words or by its stories
  const tie = (l: FeatureLabel) => l.concept_score + l.document_score;
  const candidates = labels
    .filter((l) => l.concept === concept)
    .sort((a, b) => tie(b) - tie(a))
    .slice(0, config.steering.candidates);
  if (!candidates.length) return { concept, feature: null, arms: [], note: `no feature is labelled ${concept}` };
  const meanNorms = await measureMeanNorms(engine);
  const resolver = new SteeringResolver({ source: engine, meanNorms, defaultLayer: sae.hookLayer, sae });
  const promptTokens = engine.tokenize(renderChat([{ role: 'user', content: 'Tell me a story.' }]) + '<|im_start|>assistant\n', { addSpecial: true, parseSpecial: true });
  const tried = [];
  for (const label of candidates) {
    const feature = { index: label.index, description: label.description, concept_score: label.concept_score, document_score: label.document_score };
    for (const applyTo of config.steering.applyTo) {
      const interventionsByStrength = new Map<number, Intervention[]>();
      for (const strength of config.steering.strengths) {
        interventionsByStrength.set(strength, (await resolver.resolve({ feature: label.index, strength, apply_to: applyTo })).interventions);
      }
      const arms = await steeringCheck({
        engine,
        promptTokens,
        // the unsteered arm is the same for every candidate: run it once
        baseline: tried.length === 0,
        interventions: (s) => interventionsByStrength.get(s)!,
        mentions: (text) => mentionsConcept(text, concept),
        strengths: config.steering.strengths,
        samples: config.steering.samples,
        temperature: config.evaluation.temperature,
        maxTokens: config.steering.maxTokens,
        seed: config.seed,
      });
      tried.push({ feature, applyTo, arms });
    }
  }
  const baseline = tried[0]!.arms.find((a) => a.strength === 0)!;
  const withinBar = tried.flatMap((t) =>
    t.arms.filter((a) => a.strength !== 0 && a.perplexity <= 2 * baseline.perplexity).map((arm) => ({ tried: t, arm })),
  );
  const best = withinBar.sort((a, b) => b.arm.rate - a.arm.rate || a.arm.perplexity - b.arm.perplexity)[0];
  const chosen = best?.tried ?? tried[0]!;
  return {
    concept,
    baseline: { rate: baseline.rate, perplexity: baseline.perplexity },
    // the chosen feature and strength: the best arm within 2× the baseline's perplexity (null when none is)
    feature: chosen.feature,
    apply_to: chosen.applyTo,
    strength: best?.arm.strength ?? null,
    rate: best?.arm.rate ?? null,
    perplexity: best?.arm.perplexity ?? null,
    arms: [baseline, ...chosen.arms.filter((a) => a.strength !== 0)],
    candidates: tried.map(({ feature, applyTo, arms }) => ({ feature, apply_to: applyTo, arms: arms.filter((a) => a.strength !== 0) })),
  };
}
