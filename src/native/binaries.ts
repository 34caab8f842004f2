/**
 * Finds the llama.cpp shared libraries that node-llama-cpp ships for this machine. node-llama-cpp's getLlama()
 * decides the variant (it probes CUDA, Vulkan, Metal); we load our addon built against that same folder, so
 * the libraries are mapped once and shared by both.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getLlama, type Llama } from 'node-llama-cpp';

export type GpuChoice = 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu';

export interface LlamaBinaries {
  /** e.g. linux-x64, linux-x64-cuda */
  variant: string;
  binsDir: string;
  gpu: false | 'cuda' | 'vulkan' | 'metal';
  llama: Llama;
}

function variantFor(gpu: LlamaBinaries['gpu']): string {
  const base = `${process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
  if (gpu === 'metal') return `${base}-metal`;
  return gpu ? `${base}-${gpu}` : base;
}

/** On Linux, the folder of the libllama that is actually mapped (covers the -ext and fallback folders). */
function mappedLibllamaDir(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const match = maps.match(/\s(\/\S*\/libllama\.[^\s/]*so)\s*$/m);
    return match ? path.dirname(match[1]!) : undefined;
  } catch {
    return undefined;
  }
}

export async function resolveLlamaBinaries(choice: GpuChoice): Promise<LlamaBinaries> {
  const llama = await getLlama({
    gpu: choice === 'cpu' ? false : choice,
    build: 'never',
    usePrebuiltBinaries: true,
    logLevel: 'error' as never,
    progressLogs: false,
  });
  const gpu = llama.gpu;
  const mapped = mappedLibllamaDir();
  if (mapped) return { variant: path.basename(mapped) === 'fallback' ? variantFor(gpu) : path.basename(mapped), binsDir: mapped, gpu, llama };
  const variant = variantFor(gpu);
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve(`@node-llama-cpp/${variant}/package.json`));
  const binsDir = path.join(pkgDir, 'bins', variant);
  if (!existsSync(binsDir)) throw new Error(`node-llama-cpp binaries for ${variant} not found in ${binsDir}`);
  return { variant, binsDir, gpu, llama };
}
