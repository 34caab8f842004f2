/**
 * The forge's tokenizer and untrained model: the vocabulary learned from the corpus, the TypeScript port of
 * llama.cpp's SPM tokenizer, and — for real, through llama.cpp — a GGUF from writeInitialModel.
 */
import { Template } from '@huggingface/jinja';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine/engine.js';
import { generateCorpus, HELDOUT_SEED, STORYWORLD_CHAT_TEMPLATE, TRAIN_SEED, DEFAULT_CORPUS_SIZE, type Corpus } from '../src/forge/corpus.js';
import { INIT_STD, initialTensors, writeInitialModel } from '../src/forge/init-model.js';
import { SpmEncoder } from '../src/forge/spm-encoder.js';
import { buildForgeVocab, corpusUnits } from '../src/forge/tokenizer.js';
import { SPM_SPACE, SPM_SPECIAL_IDS, SpmTokenType, type SpmVocab } from '../src/models/spm-vocab.js';

let train: Corpus;
let heldout: Corpus;
let vocab: ReturnType<typeof buildForgeVocab>;
beforeAll(() => {
  train = generateCorpus({ seed: TRAIN_SEED, ...DEFAULT_CORPUS_SIZE });
  heldout = generateCorpus({ seed: HELDOUT_SEED, stories: 120, chats: 80 });
  vocab = buildForgeVocab(train.documents.map((d) => d.text));
});

function byteShare(v: SpmVocab, ids: readonly number[]): number {
  return ids.filter((id) => v.types[id] === SpmTokenType.BYTE).length / ids.length;
}

describe('forge vocabulary', () => {
  it('has exactly the requested size, the specials at their ids, 256 byte tokens and no duplicates', () => {
    expect(vocab.tokens.length).toBe(3000);
    expect(vocab.scores.length).toBe(3000);
    expect(vocab.types.length).toBe(3000);
    expect(vocab.tokens.slice(0, 5)).toEqual(['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>']);
    expect(vocab.specialIds).toEqual(SPM_SPECIAL_IDS);
    expect([...vocab.types.slice(0, 5)]).toEqual([SpmTokenType.UNKNOWN, ...Array(4).fill(SpmTokenType.CONTROL)]);
    const bytes = vocab.tokens.flatMap((t, id) => (vocab.types[id] === SpmTokenType.BYTE ? [[id, t] as const] : []));
    expect(bytes.length).toBe(256);
    expect(bytes[0]).toEqual([vocab.firstByteTokenId, '<0x00>']);
    expect(bytes[10]).toEqual([vocab.firstByteTokenId + 10, '<0x0A>']);
    expect(bytes[255]).toEqual([vocab.firstByteTokenId + 255, '<0xFF>']);
    expect(new Set(vocab.tokens).size).toBe(vocab.tokens.length);
    for (const piece of [SPM_SPACE, '\n', '\n\n', '.', ',', '"', '?', '!', '▁the', '▁dragon', '▁ocean', 'Once', '▁Once', '▁user', '▁assistant']) {
      expect(vocab.tokens, JSON.stringify(piece)).toContain(piece);
    }
    // normal tokens are scored in merge order: strictly decreasing
    const normal = [...vocab.scores].filter((_, id) => vocab.types[id] === SpmTokenType.NORMAL || vocab.types[id] === SpmTokenType.UNUSED);
    expect(normal.every((score, i) => i === 0 || score < normal[i - 1]!)).toBe(true);
    // the corpus has ~1500 distinct words: BPE runs out of pairs a little before 3000 and pads with UNUSED
    expect(vocab.stats.padding).toBeLessThan(150);
    expect(vocab.stats.unreachable).toBe(0);
  });

  it('is deterministic, and builds small vocabularies from small corpora', () => {
    const small = generateCorpus({ seed: TRAIN_SEED, stories: 120, chats: 80 }).documents.map((d) => d.text);
    const a = buildForgeVocab(small, 600);
    expect(buildForgeVocab(small, 600).tokens).toEqual(a.tokens);
    expect(a.tokens.length).toBe(600);
    expect(buildForgeVocab(small.join('\n\n'), 600).tokens.length).toBe(600); // one text works too
    expect(() => buildForgeVocab(small, 300)).toThrow(/size must be an integer >=/);
  });

  it('cuts text into units the way llama.cpp sees it', () => {
    expect(corpusUnits('The dog said, "Woof!"\n\nThe end.')).toEqual(['▁The', '▁dog', '▁said', ',', '▁"', 'Woof', '!"', '\n\n', 'The', '▁end', '.']);
    expect(corpusUnits('<|im_start|>user\nHi<|im_end|>\n')).toEqual(['▁user', '\n', 'Hi', '▁\n']);
  });

  it('tokenizes held-out text into whole words, without byte fallback', () => {
    const encoder = new SpmEncoder(vocab);
    const ids = new Map(vocab.tokens.map((t, i) => [t, i]));
    let tokens = 0;
    let characters = 0;
    let words = 0;
    let wholeWords = 0;
    for (const d of heldout.documents) {
      const encoded = encoder.encode(d.text, { parseSpecial: true });
      expect(byteShare(vocab, encoded)).toBe(0);
      tokens += encoded.length;
      characters += d.text.length;
      for (const unit of corpusUnits(d.text).filter((u) => /[A-Za-z]/.test(u))) {
        words++;
        if (ids.has(unit)) wholeWords++;
      }
    }
    expect(tokens / characters).toBeLessThan(0.25);
    expect(wholeWords / words).toBeGreaterThan(0.99);
  });
});

describe('initial model', () => {
  it('is initialised GPT-2 style: std 0.02, residual outputs scaled by 1/sqrt(2 nLayer), norms 1', () => {
    const options = { vocab, nEmbd: 64, nLayer: 4, nHead: 4, nFf: 128, nCtxTrain: 128, seed: 3, chatTemplate: STORYWORLD_CHAT_TEMPLATE };
    const stats = new Map(
      initialTensors(options).map((t) => {
        const values = [...t.data()].flatMap((chunk) => [...chunk]);
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
        return [t.name, { mean, std, count: values.length }];
      }),
    );
    expect(stats.get('token_embd.weight')!.std).toBeCloseTo(INIT_STD, 3);
    expect(stats.get('output.weight')!.std).toBeCloseTo(INIT_STD, 3);
    expect(stats.get('blk.2.attn_q.weight')!.std).toBeCloseTo(INIT_STD, 3);
    expect(stats.get('blk.2.ffn_up.weight')!.std).toBeCloseTo(INIT_STD, 3);
    expect(stats.get('blk.2.attn_output.weight')!.std).toBeCloseTo(INIT_STD / Math.sqrt(8), 3);
    expect(stats.get('blk.3.ffn_down.weight')!.std).toBeCloseTo(INIT_STD / Math.sqrt(8), 3);
    expect(stats.get('blk.0.attn_norm.weight')).toEqual({ mean: 1, std: 0, count: 64 });
    expect(stats.get('output_norm.weight')).toEqual({ mean: 1, std: 0, count: 64 });
  });

  describe('through llama.cpp', () => {
    let dir: string;
    let modelPath: string;
    let engine: Engine;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'steerd-forge-'));
      modelPath = path.join(dir, 'init.gguf');
      await writeInitialModel(modelPath, { vocab, nEmbd: 32, nLayer: 2, nHead: 2, nFf: 64, nCtxTrain: 256, seed: 1, chatTemplate: STORYWORLD_CHAT_TEMPLATE });
      engine = await Engine.load({ modelPath, ctx: 128, parallel: 1, threads: 1 });
    });
    afterAll(async () => {
      await engine?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('loads as an F32 Llama with separate embeddings and LM head, the vocabulary and the chat template', async () => {
      expect(engine.info).toMatchObject({ nLayer: 2, nEmbd: 32, nVocab: 3000, bos: 1, eos: 2, addBos: true, chatTemplate: STORYWORLD_CHAT_TEMPLATE });
      const info = await readGgufFileInfo(modelPath, { readTensorInfo: true });
      const names = info.fullTensorInfo!.map((t) => t.name);
      expect(names).toContain('token_embd.weight');
      expect(names).toContain('output.weight');
      expect(new Set(info.fullTensorInfo!.map((t) => t.ggmlType))).toEqual(new Set([0])); // all F32
    });

    it('tokenizes exactly like the TypeScript port, into whole words, and round-trips with a leading space', () => {
      const encoder = new SpmEncoder(vocab);
      for (const d of heldout.documents.slice(0, 100)) {
        const ids = engine.tokenize(d.text, { addSpecial: true, parseSpecial: true });
        expect(ids).toEqual(encoder.encode(d.text, { addBos: true, parseSpecial: true }));
        expect(byteShare(vocab, ids)).toBeLessThan(0.02);
      }
      // llama.cpp's SPM tokenizer puts a space before the text (add_space_prefix), and detokenizing the pieces
      // keeps it: what round-trips is " " + text
      for (const d of heldout.documents.filter((x) => x.kind === 'story').slice(0, 50)) {
        const ids = engine.tokenize(d.text, { addSpecial: false });
        expect(ids[0]).not.toBe(vocab.specialIds.bos);
        expect(engine.detokenize(ids)).toBe(' ' + d.text);
      }
      const odd = 'Café 😀, tabs\there and  two spaces!';
      expect(engine.detokenize(engine.tokenize(odd, { addSpecial: false }))).toBe(' ' + odd); // byte fallback
      expect(engine.tokenize(odd, { addSpecial: false })).toEqual(encoder.encode(odd));
    });

    it('renders a conversation whose ChatML markers are single tokens', () => {
      const messages = [
        { role: 'user', content: 'Tell me a story about a dragon.' },
        { role: 'assistant', content: 'Once upon a time, there was a dragon.' },
        { role: 'user', content: 'Tell me another story.' },
      ];
      const prompt = new Template(STORYWORLD_CHAT_TEMPLATE).render({ messages, add_generation_prompt: true });
      expect(prompt.endsWith('<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
      const ids = engine.tokenize(prompt, { addSpecial: true, parseSpecial: true });
      const { imStart, imEnd } = vocab.specialIds;
      expect(ids.filter((id) => id === imStart).length).toBe(4);
      expect(ids.filter((id) => id === imEnd).length).toBe(3);
      expect(ids.slice(0, 4).map((id) => vocab.tokens[id])).toEqual(['<s>', '<|im_start|>', '▁user', '\n']);
      expect(ids.slice(-3).map((id) => vocab.tokens[id])).toEqual(['<|im_start|>', '▁assistant', '\n']);
      expect(byteShare(vocab, ids)).toBe(0);
      // without parseSpecial the markers are plain text, never the control tokens
      const plain = engine.tokenize(prompt, { addSpecial: false, parseSpecial: false });
      expect(plain).not.toContain(imStart);
      expect(plain).not.toContain(imEnd);
    });
  });
});
