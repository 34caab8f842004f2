/**
 * Server configuration from command-line flags and STEERD_* environment variables (a flag wins over its
 * variable). One table drives the parser, the validation and --help, so they cannot disagree.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';

export const GPU_CHOICES = ['auto', 'cuda', 'vulkan', 'metal', 'cpu'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Physical cores: llama.cpp's matrix code gains nothing from hyper-threads and loses to their contention. */
export function physicalCoreCount(): number {
  const logical = availableParallelism();
  try {
    if (process.platform === 'linux') {
      const cores = new Set<string>();
      let physicalId = '0';
      for (const line of readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
        const [key, value] = line.split(':').map((part) => part.trim());
        if (key === 'physical id') physicalId = value ?? '0';
        if (key === 'core id') cores.add(`${physicalId}:${value}`);
      }
      if (cores.size > 0) return Math.min(cores.size, logical);
    }
    if (process.platform === 'darwin') {
      const cores = Number(execFileSync('sysctl', ['-n', 'hw.physicalcpu'], { encoding: 'utf8' }).trim());
      if (Number.isInteger(cores) && cores > 0) return cores;
    }
  } catch {
    // fall through to the logical count: a slight oversubscription beats failing to start
  }
  return logical;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'expected an integer')
    .transform(Number)
    .pipe(z.int().min(min).max(max));
}

interface OptionSpec {
  /** the flag without dashes; the env variable is STEERD_ + its upper snake case */
  flag: string;
  arg: string;
  help: string;
  schema: z.ZodType;
  /** repeatable flag; from the environment a comma-separated list */
  list?: boolean;
  env?: string;
}

const OPTIONS = {
  model: {
    flag: 'model',
    arg: 'PATH',
    help: 'GGUF model file (default: the embedded storyworld model, models/storyworld/, with its SAE)',
    schema: z.string().min(1).optional(),
  },
  sae: {
    flag: 'sae',
    arg: 'PATH',
    help: 'sparse autoencoder for feature steering (SAELens, sparsify, Llama Scope or Gemma Scope folder; default: the storyworld SAE with the storyworld model)',
    schema: z.string().min(1).optional(),
  },
  host: { flag: 'host', arg: 'HOST', help: 'address to listen on', schema: z.string().min(1).default('127.0.0.1') },
  port: { flag: 'port', arg: 'N', help: 'port to listen on (0 = any free port)', schema: integer(0, 65535).default(8080) },
  parallel: {
    flag: 'parallel',
    arg: 'N',
    help: 'sequences generated at once (batched together)',
    schema: integer(1, 256).default(4),
  },
  ctx: {
    flag: 'ctx',
    arg: 'N',
    help: "tokens per sequence (prompt + output), capped by the model's training context",
    schema: integer(16).default(2048),
  },
  threads: {
    flag: 'threads',
    arg: 'N',
    help: 'CPU threads (defaults to the physical core count)',
    schema: integer(1, 1024).default(physicalCoreCount),
  },
  batch: {
    flag: 'batch',
    arg: 'N',
    help: 'most tokens one decode step carries (prompt chunks + generating sequences)',
    schema: integer(1, 65536).default(512),
  },
  gpu: { flag: 'gpu', arg: GPU_CHOICES.join('|'), help: 'compute backend', schema: z.enum(GPU_CHOICES).default('auto') },
  gpuLayers: {
    flag: 'gpu-layers',
    arg: 'N',
    help: 'layers to offload to the GPU (-1 = all)',
    schema: integer(-1).default(-1),
  },
  steerLayer: {
    flag: 'steer-layer',
    arg: 'N',
    help: 'layer a steering item uses when it names none (default: the middle layer)',
    schema: integer(0).optional(),
  },
  queue: {
    flag: 'queue',
    arg: 'N',
    help: 'most requests waiting for a free sequence; more get 429',
    schema: integer(0, 1_000_000).default(64),
  },
  apiKeys: {
    flag: 'api-key',
    env: 'STEERD_API_KEYS',
    arg: 'KEY',
    help: 'require "Authorization: Bearer KEY" on /v1/* (repeatable; env: comma-separated)',
    schema: z.array(z.string().min(1)).default([]),
    list: true,
  },
  logLevel: {
    flag: 'log-level',
    arg: 'LEVEL',
    help: `log verbosity: ${LOG_LEVELS.join(', ')}`,
    schema: z.enum(LOG_LEVELS).default('info'),
  },
} satisfies Record<string, OptionSpec>;

type Options = typeof OPTIONS;
export type Config = { [K in keyof Options]: z.output<Options[K]['schema']> };

const envName = (spec: OptionSpec) => spec.env ?? `STEERD_${spec.flag.toUpperCase().replaceAll('-', '_')}`;

/** A bad flag or variable: the message is one line meant for the person starting the server. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

export function helpText(): string {
  const specs = Object.values(OPTIONS) as OptionSpec[];
  const lines = specs.map((spec) => {
    const left = `  --${spec.flag} ${spec.arg}`;
    const defaultValue = spec.schema.safeParse(undefined);
    const shown =
      defaultValue.success && defaultValue.data !== undefined && !(Array.isArray(defaultValue.data) && !defaultValue.data.length)
        ? ` [default: ${String(defaultValue.data)}]`
        : '';
    return `${left.padEnd(42)}${spec.help}${shown}\n${''.padEnd(42)}env: ${envName(spec)}`;
  });
  return [
    'steerd: an OpenAI-compatible llama.cpp server with per-request residual-stream steering',
    '',
    'usage: npm start -- [options]',
    '',
    ...lines,
    '  -h, --help'.padEnd(42) + 'show this help',
    '',
  ].join('\n');
}

/** Parses flags and environment into a validated Config; throws ConfigError with a one-line message. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const specs = OPTIONS as Record<string, OptionSpec>;
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(
          Object.values(specs).map((spec) => [spec.flag, { type: 'string' as const, multiple: spec.list ?? false }]),
        ),
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message} (see --help)`);
  }

  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const fromFlag = values[spec.flag];
    const fromEnv = env[envName(spec)];
    let raw: unknown = fromFlag;
    if (raw === undefined && fromEnv !== undefined && fromEnv !== '') {
      raw = spec.list ? fromEnv.split(',').map((item) => item.trim()).filter(Boolean) : fromEnv;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const source = fromFlag !== undefined ? `--${spec.flag}` : envName(spec);
      const issue = result.error.issues[0];
      throw new ConfigError(`invalid ${source} ${JSON.stringify(raw)}: ${issue?.message ?? 'invalid value'}`);
    }
    config[key] = result.data;
  }
  return config as Config;
}
