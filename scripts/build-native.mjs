#!/usr/bin/env node
// Builds the steerd addon once per llama.cpp variant that node-llama-cpp installed for this platform
// (CPU, CUDA, Vulkan, Metal): each variant ships libraries with their own names, and the addon must be
// compiled against the exact llama.cpp headers of those libraries (cloned from node-llama-cpp's bundle).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const started = Date.now();
const log = (msg) => console.log(`[build-native] ${msg}`);

// node-llama-cpp's exports hide package.json: walk up from its entry point
function packageDir(name) {
  let dir = path.dirname(require.resolve(name));
  while (!existsSync(path.join(dir, 'package.json')) || JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== name) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${name} package folder`);
    dir = up;
  }
  return dir;
}
const nlcDir = packageDir('node-llama-cpp');
const bundle = path.join(nlcDir, 'llama', 'gitRelease.bundle');
const release = JSON.parse(readFileSync(path.join(nlcDir, 'llama', 'binariesGithubRelease.json'), 'utf8')).release;
const llamaSrc = path.join(root, 'build', `llama.cpp-${release}`);

if (!existsSync(path.join(llamaSrc, 'include', 'llama.h'))) {
  rmSync(llamaSrc, { recursive: true, force: true });
  log(`cloning llama.cpp ${release} headers from node-llama-cpp's bundle`);
  execFileSync('git', ['clone', '--quiet', '--depth', '1', bundle, llamaSrc], { stdio: 'inherit' });
}

const platform = process.platform === 'darwin' ? 'mac' : process.platform === 'win32' ? 'win' : process.platform;
const prefix = `${platform}-${process.arch}`;
const scopeDir = path.join(path.dirname(nlcDir), '@node-llama-cpp');
const variants = existsSync(scopeDir)
  ? readdirSync(scopeDir).filter((v) => v === prefix || v.startsWith(`${prefix}-`))
  : [];
// STEERD_VARIANTS=linux-x64 limits the build (e.g. while iterating on the addon)
const only = process.env.STEERD_VARIANTS?.split(',').filter(Boolean);

function libName(binsDir, base) {
  // libllama.v0.4.0.so, libllama.cuda.v0.4.0.so, libllama.dylib ...
  const file = readdirSync(binsDir).find((f) => new RegExp(`^lib${base}(\\.[a-z]+)?\\.v[0-9.]+\\.(so|dylib)$`).test(f))
    ?? readdirSync(binsDir).find((f) => f === `lib${base}.so` || f === `lib${base}.dylib`);
  return file?.replace(/^lib/, '').replace(/\.(so|dylib)$/, '');
}

const nodeGyp = path.join(packageDir('node-gyp'), 'bin', 'node-gyp.js');
const nodeDir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
// rebuild when the addon's sources or the llama.cpp release change
const sourceHash = createHash('sha256');
sourceHash.update(release);
for (const file of ['binding.gyp', ...readdirSync(path.join(root, 'native', 'src')).sort().map((f) => `src/${f}`)]) {
  sourceHash.update(file).update(readFileSync(path.join(root, 'native', file)));
}
const stamp = sourceHash.digest('hex');
let built = 0;
for (const variant of variants) {
  const variantRoot = path.join(scopeDir, variant, 'bins');
  if (!existsSync(variantRoot)) continue;
  // the -ext packages keep their libraries in a folder named after the base variant
  for (const folder of readdirSync(variantRoot)) {
    const binsDir = path.join(variantRoot, folder);
    const llamaLib = existsSync(binsDir) && readdirSync(binsDir).length ? libName(binsDir, 'llama') : undefined;
    const ggmlLib = llamaLib && libName(binsDir, 'ggml');
    if (!llamaLib || !ggmlLib || (only && !only.includes(folder))) continue;
    const outDir = path.join(root, 'build', 'variants', folder);
    const stampFile = path.join(outDir, 'sources.sha256');
    const upToDate = existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
    if (upToDate && existsSync(path.join(outDir, 'steerd.node')) && !process.env.STEERD_REBUILD) { built++; continue; }
    log(`building for ${folder} against ${binsDir}`);
    execFileSync(process.execPath, [
      nodeGyp, 'rebuild', '--loglevel=warn', `--nodedir=${nodeDir}`, `--directory=${path.join(root, 'native')}`, '--jobs=2',
      '--', `-Dllama_src=${llamaSrc}`, `-Dbins_dir=${binsDir}`, `-Dllama_lib=${llamaLib}`, `-Dggml_lib=${ggmlLib}`,
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    mkdirSync(outDir, { recursive: true });
    copyFileSync(path.join(root, 'native', 'build', 'Release', 'steerd.node'), path.join(outDir, 'steerd.node'));
    writeFileSync(stampFile, stamp);
    built++;
  }
}
if (!built) {
  console.error(`[build-native] no node-llama-cpp binaries for ${prefix} found in ${scopeDir}`);
  process.exit(1);
}
log(`done: ${built} variant(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
