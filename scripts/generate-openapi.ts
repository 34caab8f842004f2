/**
 * Writes openapi.yaml at the repository root from the zod schemas (npm run openapi). With --check it only
 * compares, and exits 1 when the checked-in file is stale. Builds the app without a model: the document
 * depends on the schemas alone.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildApp } from '../src/app.js';
import { Metrics } from '../src/metrics.js';
import { openApiYaml } from '../src/openapi.js';

export const OPENAPI_FILE = fileURLToPath(new URL('../openapi.yaml', import.meta.url));

export async function renderOpenApiYaml(): Promise<string> {
  const app = await buildApp({ config: { apiKeys: [] }, services: { metrics: new Metrics({ defaultMetrics: false }) } });
  try {
    await app.ready();
    return openApiYaml(app);
  } finally {
    await app.close();
  }
}

async function main(): Promise<void> {
  const yaml = await renderOpenApiYaml();
  if (process.argv.includes('--check')) {
    const current = await readFile(OPENAPI_FILE, 'utf8').catch(() => '');
    if (current !== yaml) {
      process.stderr.write('openapi.yaml is out of date: run npm run openapi\n');
      process.exit(1);
    }
    return;
  }
  await writeFile(OPENAPI_FILE, yaml);
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
