/**
 * What the model-reading tools (sae capture, sae stats) parse alike: a failure that prints the usage on a bad
 * command line (exit 2) and not on a failed run (exit 1), integer flags with a lower bound, and --gpu.
 */
export type GpuFlag = 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu';

export type Fail = (message: string, code?: number) => never;

export function failWithUsage(command: string, usage: string): Fail {
  return (message, code = 2) => {
    console.error(`${command}: ${message}${code === 2 ? `\n\n${usage}` : ''}`);
    process.exit(code);
  };
}

/** The flag's integer value (undefined when absent); anything else, or below `min`, fails. */
export function integerFlag(fail: Fail, flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min) fail(`--${flag} must be an integer >= ${min} (got "${text}")`);
  return value;
}

export function gpuFlag(fail: Fail, text: string | undefined): GpuFlag {
  const gpu = (text ?? 'auto') as GpuFlag;
  if (!['auto', 'cuda', 'vulkan', 'metal', 'cpu'].includes(gpu)) fail(`--gpu must be auto, cuda, vulkan, metal or cpu (got "${text}")`);
  return gpu;
}
