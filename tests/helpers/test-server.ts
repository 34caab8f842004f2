/**
 * The real stack for HTTP tests: the tiny random-weight model on one llama.cpp thread (its threads busy-wait,
 * and the test machine may have two cores), its services, and the app built the way server.ts builds it.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { Metrics } from '../../src/metrics.js';
import { createServices, type Services } from '../../src/services/create-services.js';
import { testModelPath } from './test-models.js';

/** Loads the tiny test model; options override the small, CPU-only, one-thread defaults. */
export async function loadTestEngine(options: Partial<EngineOptions> = {}): Promise<Engine> {
  return Engine.load({
    modelPath: await testModelPath('tiny'),
    gpu: 'cpu',
    gpuLayers: 0,
    ctx: 512,
    parallel: 4,
    threads: 1,
    batch: 256,
    ...options,
  });
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
}

/** Services and app over an engine, as server.ts wires them (without the logger: test output stays readable). */
export async function buildTestApp(engine: Engine, apiKeys: string[] = []): Promise<TestApp> {
  // no default process metrics: several apps may share one test process
  const services = await createServices({ engine, metrics: new Metrics({ defaultMetrics: false }) });
  const app = await buildApp({ config: { apiKeys }, engine, services });
  return { app, services };
}

/** Listens on a free loopback port and returns the base URL (http://127.0.0.1:PORT). */
export async function listenOnFreePort(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** Polls until `condition` holds; throws naming `what` once `timeoutMs` has passed. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
