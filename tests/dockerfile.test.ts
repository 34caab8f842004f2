/**
 * The Dockerfile lints clean, and builds and starts the app the way the README tells people to: `npm ci`
 * (whose install script builds the native addon) and `npm start` with flags the server accepts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';

const root = new URL('../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const dockerfilelint = createRequire(import.meta.url)('dockerfilelint') as {
  run(configPath: string, content: string): Array<{ title: string; line: number; rule: string }>;
};

/** The exec-form CMD of the last stage, as an argument list. */
function finalCmd(dockerfile: string): string[] {
  const cmds = dockerfile.split('\n').filter((line) => line.startsWith('CMD '));
  return JSON.parse(cmds.at(-1)!.slice('CMD '.length)) as string[];
}

describe('Dockerfile', () => {
  it('passes dockerfilelint', () => {
    expect(dockerfilelint.run(new URL('.', root).pathname, read('Dockerfile'))).toEqual([]);
  });

  it('installs with npm ci and starts with npm start, as the README does', () => {
    const dockerfile = read('Dockerfile');
    expect(existsSync(new URL('README.md', root)), 'README.md is missing').toBe(true);
    const readme = read('README.md');
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(readme).toContain('npm ci');
    expect(finalCmd(dockerfile).slice(0, 3)).toEqual(['npm', 'start', '--']);
    expect(readme).toContain('npm start');
    // the scripts the image relies on exist
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(scripts.install).toBeDefined();
    expect(scripts.start).toBeDefined();
  });

  it('starts the server with flags it accepts, on all interfaces, serving the mounted model', () => {
    const config = parseConfig(finalCmd(read('Dockerfile')).slice(3), {});
    expect(config.host).toBe('0.0.0.0');
    expect(config.model).toBe('/models/model.gguf');
  });

  it('keeps host-built node_modules and native builds out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'build', 'native/build', '.git']));
  });
});
