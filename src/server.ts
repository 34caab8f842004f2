/**
 * Entry point: parse the configuration, load the model (and SAE), build the app, listen, and close gracefully
 * on SIGINT/SIGTERM. A start-up failure prints one line naming the culprit and exits with status 1
 * (2 for a bad flag), without a stack trace: the person reading it needs the file name, not our call stack.
 */
import pino, { type Logger } from 'pino';
import { buildApp } from './app.js';
import { ConfigError, helpText, parseConfig, wantsHelp, type Config } from './config.js';
import { Engine } from './engine/engine.js';
import { Metrics } from './metrics.js';
import { defaultServedSet } from './models/default-model.js';
import { loadSae } from './sae/load.js';
import { checkModelFile } from './engine/model-file.js';
import { createServices, type LoadedSae, type Services } from './services/create-services.js';

/** Thrown for a failure the user can fix; its message is the whole report. */
class StartupError extends Error {}

function createLogger(level: Config['logLevel']): Logger {
  // JSON lines for log collectors; readable colours only when a person watches the terminal
  if (process.stdout.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } });
  }
  return pino({ level });
}

async function loadEngine(config: Config, modelPath: string): Promise<Engine> {
  try {
    return await Engine.load({
      modelPath,
      gpu: config.gpu,
      gpuLayers: config.gpuLayers,
      ctx: config.ctx,
      parallel: config.parallel,
      threads: config.threads,
      batch: config.batch,
      queue: config.queue,
    });
  } catch (err) {
    const message = (err as Error).message;
    // the engine's own load errors already name the file; anything else gets it added here
    throw new StartupError(message.includes(modelPath) ? message : `cannot load model ${modelPath}: ${message}`);
  }
}

async function loadConfiguredSae(path: string | undefined, engine: Engine): Promise<LoadedSae | null> {
  if (!path) return null;
  try {
    return { path, sae: await loadSae(path, { nEmbd: engine.info.nEmbd, nLayer: engine.info.nLayer }) };
  } catch (err) {
    const message = (err as Error).message;
    throw new StartupError(message.includes(path) ? message : `cannot load SAE ${path}: ${message}`);
  }
}

/**
 * Listens first, so load balancers see /health answer 503 while a large model loads; the model file is
 * checked before that, so a missing or corrupt file still stops start-up with one line.
 */
async function start(config: Config, logger: Logger): Promise<void> {
  // without --model: the embedded storyworld model and its SAE
  const served = config.model ? { model: config.model, sae: config.sae } : await defaultServedSet(config.sae);
  const modelPath = served.model;
  try {
    await checkModelFile(modelPath);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  const services: Services = { metrics: new Metrics() };
  const app = await buildApp({ config, services, logger });
  let engine: Engine | undefined;
  let closing = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting for requests');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'closing: finishing in-flight requests');
    // the HTTP server first, so no request reaches an engine that is shutting down; sockets that never sent a
    // request (cancelled fetches, browser preconnects) would hold close() until Node's header timeout
    const forceClose = setTimeout(() => app.server.closeAllConnections(), 5000);
    forceClose.unref();
    await app.close();
    await engine?.close();
    logger.info('closed');
    process.exit(0);
  };
  process.on('SIGINT', (s) => void shutdown(s));
  process.on('SIGTERM', (s) => void shutdown(s));
  await app.listen({ host: config.host, port: config.port });

  logger.info({ model: modelPath, gpu: config.gpu, parallel: config.parallel, ctx: config.ctx }, 'loading model');
  try {
    engine = await loadEngine(config, modelPath);
    const { nLayer } = engine.info;
    if (config.steerLayer !== undefined && config.steerLayer >= nLayer) {
      throw new StartupError(`--steer-layer ${config.steerLayer} is out of range: ${modelPath} has layers 0..${nLayer - 1}`);
    }
    const sae = await loadConfiguredSae(served.sae, engine);
    const loaded = await createServices({
      engine,
      metrics: services.metrics,
      sae,
      steerLayer: config.steerLayer,
      warn: (message) => logger.warn(message),
    });
    services.metrics.observeEngine(engine);
    Object.assign(services, loaded);
  } catch (err) {
    await app.close();
    await engine?.close();
    throw err;
  }
  logger.info(
    { model: engine.info.modelName, n_layer: engine.info.nLayer, steer_layer: services.model?.steer_layer, sae: served.sae ?? null },
    'ready',
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(helpText());
    return;
  }
  let config: Config;
  try {
    config = parseConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`steerd: ${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  try {
    await start(config, logger);
  } catch (err) {
    const known = err instanceof StartupError || (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    process.stderr.write(`steerd: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(1);
  }
}

await main();
