import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseCli, sourceKey } from '../../../infra/local/bin/cli-build.mjs';

/*
 * The prebuilt CLI's cache (infra/local/bin/cli-build.mjs) on a small project shaped like this repository:
 * what a start runs is always built from the sources as they are, or is the TypeScript entry for tsx.
 */

const BUILDER = fileURLToPath(new URL('../../../infra/local/bin/cli-build.mjs', import.meta.url));
const roots: string[] = [];

/** A project with the CLI's layout: an entry importing through `#shared/*`, a lazy import, a module URL. */
function project(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'wflo-cli-build-'));
  roots.push(root);
  const all: Record<string, string> = {
    'package.json': JSON.stringify({ type: 'module', imports: { '#shared/*': './functions/shared/*.ts' } }),
    'tsconfig.json': '{}',
    'infra/local/cli/cli.ts': [
      "import { message } from '#shared/message';",
      'export const greeting: string = message;',
      "export const lazy = async () => (await import('../../../functions/activities/late.ts')).value;",
      "export { sourceUrl } from '#shared/where';",
    ].join('\n'),
    'functions/shared/message.ts': "export const message = 'one';",
    'functions/shared/where.ts': 'export const sourceUrl: string = import.meta.url;',
    'functions/activities/late.ts': "export const value = 'late';",
    ...files,
  };
  for (const [path, text] of Object.entries(all)) write(root, path, text);
  return root;
}

function write(root: string, path: string, text: string) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** Loads a built CLI in a fresh Node process (no loader, as `node wflo.mjs` does) and reports its exports. */
function load(entry: string): { greeting: string; lazy: string; sourceUrl: string } {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      'const m = await import(process.argv[1]); console.log(JSON.stringify({ greeting: m.greeting, lazy: await m.lazy(), sourceUrl: m.sourceUrl }))',
      entry,
    ],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

/** Every JavaScript file of a build, concatenated. */
function builtText(entry: string): string {
  const dir = dirname(fileURLToPath(entry));
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

/** The build folders and temporary folders in a cache. */
function cacheEntries(cacheDir: string): string[] {
  try {
    return readdirSync(cacheDir).sort();
  } catch {
    return [];
  }
}

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('prebuilt CLI cache', { timeout: 60_000 }, () => {
  it('builds once, then serves the cached build until a source changes, then rebuilds from the new source', async () => {
    // Prepare
    const root = project();
    const cacheDir = join(root, 'node_modules/.cache/wflo/cli');

    // Act
    const first = await chooseCli({ root, cacheDir });
    const again = await chooseCli({ root, cacheDir });
    write(root, 'functions/shared/message.ts', "export const message = 'two';");
    const edited = await chooseCli({ root, cacheDir });

    // Assess
    expect(first).toMatchObject({ mode: 'prebuilt', built: true });
    expect(again).toMatchObject({ mode: 'prebuilt', built: false, entry: first.entry });
    expect(edited).toMatchObject({ mode: 'prebuilt', built: true });
    expect(edited.entry).not.toBe(first.entry);
    expect(load(first.entry).greeting).toBe('one');
    expect(load(edited.entry)).toEqual({
      greeting: 'two',
      lazy: 'late',
      // A module's import.meta.url stays its source file's: reads relative to it find the same files.
      sourceUrl: pathToFileURL(join(root, 'functions/shared/where.ts')).href,
    });
  });

  it('keys on content: an edit that keeps the size and the mtime still changes the key', () => {
    // Prepare
    const root = project();
    const file = join(root, 'functions/shared/message.ts');
    const mtime = new Date('2026-01-01T00:00:00Z');
    utimesSync(file, mtime, mtime);
    const before = sourceKey(root);

    // Act: same length, same mtime, one letter changed
    write(root, 'functions/shared/message.ts', "export const message = 'ono';");
    utimesSync(file, mtime, mtime);
    const after = sourceKey(root);

    // Assess
    expect(after).not.toBe(before);
    expect(sourceKey(root)).toBe(after);
  });

  it('bundles packages (each keeping its own import.meta.url and Node built-ins), and a new install changes the key', async () => {
    // Prepare: an ESM package reading a file next to itself through its module URL, which requires a
    // CommonJS package that requires a Node built-in
    const root = project({
      'infra/local/cli/cli.ts': [
        "import { fromData } from 'esm-dep';",
        'export const greeting: string = fromData;',
        'export const lazy = async () => 0;',
        "export const sourceUrl = '';",
      ].join('\n'),
      'node_modules/esm-dep/package.json': JSON.stringify({
        name: 'esm-dep',
        type: 'module',
        main: 'index.js',
      }),
      'node_modules/esm-dep/index.js': [
        "import { readFileSync } from 'node:fs';",
        "import cjs from 'cjs-dep';",
        "export const fromData = cjs.upper(readFileSync(new URL('./data.txt', import.meta.url), 'utf8').trim());",
      ].join('\n'),
      'node_modules/esm-dep/data.txt': 'packaged data\n',
      'node_modules/cjs-dep/package.json': JSON.stringify({ name: 'cjs-dep', main: 'index.js' }),
      'node_modules/cjs-dep/index.js':
        "const os = require('os'); exports.upper = (s) => s.toUpperCase() + os.EOL.trim();",
      'node_modules/.package-lock.json': JSON.stringify({
        packages: { 'node_modules/esm-dep': { version: '1.0.0' } },
      }),
    });
    const cacheDir = join(root, 'cache');
    const before = sourceKey(root);

    // Act
    const choice = await chooseCli({ root, cacheDir });
    write(
      root,
      'node_modules/.package-lock.json',
      JSON.stringify({ packages: { 'node_modules/esm-dep': { version: '1.0.1' } } }),
    );
    const after = sourceKey(root);

    // Assess: the package's code is in the build (not imported from node_modules) and still finds its file
    expect(choice).toMatchObject({ mode: 'prebuilt', built: true });
    expect(load(choice.entry).greeting).toBe('PACKAGED DATA');
    const built = builtText(choice.entry);
    expect(built).toContain('toUpperCase');
    expect(built).not.toMatch(/from ["']esm-dep["']/);
    expect(after).not.toBe(before);
  });

  it('leaves the packages that must load from node_modules external', async () => {
    // Prepare: a package on the external list
    const root = project({
      'infra/local/cli/cli.ts': [
        "import { PGlite } from '@electric-sql/pglite';",
        'export const greeting: string = PGlite.where;',
        'export const lazy = async () => 0;',
        "export const sourceUrl = '';",
      ].join('\n'),
      'node_modules/@electric-sql/pglite/package.json': JSON.stringify({
        name: '@electric-sql/pglite',
        type: 'module',
        main: 'index.js',
      }),
      'node_modules/@electric-sql/pglite/index.js':
        'export class PGlite { static where = import.meta.url.endsWith("/node_modules/@electric-sql/pglite/index.js") ? "node_modules" : import.meta.url; }',
    });

    // Act: built inside the repository's node_modules, so bare names resolve as they do for wflo
    const choice = await chooseCli({ root, cacheDir: join(root, 'node_modules/.cache/wflo/cli') });

    // Assess: imported by name from the build, not copied into it
    expect(choice).toMatchObject({ mode: 'prebuilt', built: true });
    expect(load(choice.entry).greeting).toBe('node_modules');
    expect(builtText(choice.entry)).toMatch(/from ["']@electric-sql\/pglite["']/);
    expect(builtText(choice.entry)).not.toContain('static where');
  });

  it('falls back to the TypeScript entry when esbuild fails, leaving nothing in the cache', async () => {
    // Prepare
    const root = project();
    const cacheDir = join(root, 'cache');
    const failing = async () => ({
      build: async () => {
        throw Object.assign(new Error('Build failed with 1 error'), {
          errors: [{ text: 'Unexpected "}"', location: { file: 'functions/shared/message.ts', line: 3 } }],
        });
      },
    });

    // Act
    const broken = await chooseCli({ root, cacheDir, loadEsbuild: failing });
    const missing = await chooseCli({
      root,
      cacheDir,
      loadEsbuild: () => Promise.reject(new Error("Cannot find package 'esbuild'")),
    });

    // Assess
    const tsEntry = pathToFileURL(join(root, 'infra/local/cli/cli.ts')).href;
    expect(broken).toEqual({
      mode: 'tsx',
      entry: tsEntry,
      reason: 'functions/shared/message.ts:3: Unexpected "}"',
      ms: expect.any(Number),
    });
    expect(missing).toMatchObject({ mode: 'tsx', entry: tsEntry, reason: "Cannot find package 'esbuild'" });
    expect(cacheEntries(cacheDir)).toEqual([]);
  });

  it('does not keep a build when a source changed while esbuild read the sources', async () => {
    // Prepare: a save lands while the build runs
    const root = project();
    const cacheDir = join(root, 'cache');
    const racing = async () => ({
      build: async (options: esbuild.BuildOptions) => {
        const result = await esbuild.build(options);
        write(root, 'functions/shared/message.ts', "export const message = 'saved during the build';");
        return result;
      },
    });

    // Act
    const during = await chooseCli({ root, cacheDir, loadEsbuild: racing });
    const next = await chooseCli({ root, cacheDir });

    // Assess
    expect(during).toMatchObject({ mode: 'tsx', reason: 'a source changed while the CLI was being built' });
    expect(next).toMatchObject({ mode: 'prebuilt', built: true });
    expect(load(next.entry).greeting).toBe('saved during the build');
  });

  it('refuses a build that bundles a file outside the hashed sources', async () => {
    // Prepare: the CLI imports a folder the key does not cover
    const root = project({
      'infra/local/cli/cli.ts': "export { extra as greeting } from '../../../lib/extra.ts';",
      'lib/extra.ts': "export const extra = 'unhashed';",
    });

    // Act
    const choice = await chooseCli({ root, cacheDir: join(root, 'cache') });

    // Assess
    expect(choice).toMatchObject({ mode: 'tsx', reason: expect.stringContaining('lib/extra.ts is outside') });
  });

  it('two starts building at once both run the same installed build, and no temporary folder is left', async () => {
    // Prepare
    const root = project();
    const cacheDir = join(root, 'node_modules/.cache/wflo/cli');
    const start = () =>
      new Promise<{ mode: string; entry: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `const { chooseCli } = await import(${JSON.stringify(pathToFileURL(BUILDER).href)});
             console.log(JSON.stringify(await chooseCli({ root: process.argv[1], cacheDir: process.argv[2] })));`,
            root,
            cacheDir,
          ],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
        });
        child.once('error', reject);
        child.once('exit', () => resolve(JSON.parse(out)));
      });

    // Act
    const [a, b] = await Promise.all([start(), start()]);

    // Assess
    expect(a).toMatchObject({ mode: 'prebuilt' });
    expect(b).toMatchObject({ mode: 'prebuilt', entry: a.entry });
    expect(cacheEntries(cacheDir)).toEqual([sourceKey(root)]);
    expect(load(a.entry).greeting).toBe('one');
  });
});
