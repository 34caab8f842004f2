/**
 * Writes a deterministic random-weight Llama GGUF.
 *   tsx scripts/make-random-model.ts --out x.gguf --embd 1024 --layers 8 --ff 2816 --heads 16 --vocab 32000 --dtype f16 --seed 1
 */
import { parseArgs } from 'node:util';
import { writeRandomLlamaModel, type RandomLlamaOptions } from '../src/models/random-llama.js';

const USAGE = `usage: tsx scripts/make-random-model.ts --out FILE [--embd 256] [--layers 6] [--heads 8] [--heads-kv N]
       [--ff 768] [--ctx 2048] [--vocab 4096] [--dtype f16|f32] [--seed 1] [--name NAME]`;

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    embd: { type: 'string', default: '256' },
    layers: { type: 'string', default: '6' },
    heads: { type: 'string', default: '8' },
    'heads-kv': { type: 'string' },
    ff: { type: 'string', default: '768' },
    ctx: { type: 'string', default: '2048' },
    vocab: { type: 'string', default: '4096' },
    dtype: { type: 'string', default: 'f16' },
    seed: { type: 'string', default: '1' },
    name: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function integer(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isInteger(value)) {
    console.error(`--${flag} must be an integer, got ${text}\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

if (values.help || !values.out) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
if (values.dtype !== 'f16' && values.dtype !== 'f32') {
  console.error(`--dtype must be f16 or f32\n${USAGE}`);
  process.exit(2);
}

const options: RandomLlamaOptions = {
  seed: integer('seed', values.seed),
  nEmbd: integer('embd', values.embd),
  nLayer: integer('layers', values.layers),
  nHead: integer('heads', values.heads),
  ...(values['heads-kv'] !== undefined ? { nHeadKv: integer('heads-kv', values['heads-kv']) } : {}),
  nFf: integer('ff', values.ff),
  nCtxTrain: integer('ctx', values.ctx),
  vocabSize: integer('vocab', values.vocab),
  dtype: values.dtype,
  ...(values.name !== undefined ? { name: values.name } : {}),
};

const result = await writeRandomLlamaModel(values.out, options);
console.log(
  `wrote ${result.path}: ${(result.bytes / 2 ** 20).toFixed(1)} MiB, ${(result.nParams / 1e6).toFixed(1)}M params ` +
    `(${options.nLayer} layers, n_embd ${options.nEmbd}, n_ff ${options.nFf}, ${options.nHead} heads, ` +
    `${options.nHeadKv ?? options.nHead} kv heads, vocab ${options.vocabSize}, ${options.dtype}, seed ${options.seed}) ` +
    `in ${result.seconds.toFixed(2)} s`,
);
