/** Checks a model file before llama.cpp sees it, so a bad file gives one clear line naming it. */
import { open, stat } from 'node:fs/promises';
import { readGgufFileInfo } from 'node-llama-cpp';

export class ModelLoadError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`cannot load model ${file}: ${reason}`);
    this.name = 'ModelLoadError';
  }
}

export async function checkModelFile(file: string): Promise<void> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new ModelLoadError(file, 'not a regular file');
    size = info.size;
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(file, 'no such file');
  }
  const handle = await open(file, 'r');
  const magic = Buffer.alloc(4);
  try {
    await handle.read(magic, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (size < 24 || magic.toString('latin1') !== 'GGUF') {
    throw new ModelLoadError(file, 'not a GGUF file (it does not start with the GGUF magic)');
  }
  try {
    await readGgufFileInfo(file, { readTensorInfo: true, logWarnings: false });
  } catch (error) {
    throw new ModelLoadError(file, `its GGUF header is invalid or truncated (${(error as Error).message})`);
  }
}
