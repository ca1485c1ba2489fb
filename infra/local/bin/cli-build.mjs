// The prebuilt `wflo` CLI: one esbuild build of infra/local/cli/cli.ts (code splitting, packages bundled but for
// a few that must load from node_modules),
// cached under node_modules/.cache/wflo/cli/ in a folder named by a hash of every source it could have been
// built from, so that a start runs JavaScript instead of compiling TypeScript through tsx's loader. Plain
// JavaScript: it runs before any TypeScript loader is registered. See docs/local-runtime.md ("How the CLI starts").
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * What the key hashes: every file under these folders and these files. A superset of what the CLI bundles (the
 * build refuses an input outside them), so editing any source the CLI was built from changes the key, and a
 * stale build is never found. statemachines/ is not here: the workflows are read at run time, not bundled.
 */
export const SOURCE_ROOTS = ['functions', 'infra', 'sandbox-image/src'];
export const SOURCE_FILES = ['package.json', 'tsconfig.json'];

/**
 * What the installed packages are: npm rewrites its hidden lockfile at every install, update or ci, so hashing it
 * (and the project's lockfile, for installs by other clients) gives a new key whenever node_modules changes and
 * the bundled packages are never stale. A hand edit inside node_modules is not seen: rebuild with a new install.
 */
export const INSTALL_FILES = ['node_modules/.package-lock.json', 'package-lock.json'];

/**
 * Packages the build leaves to node_modules, imported by name at run time: PGlite (its WebAssembly and data
 * files lie next to its module), packages whose code reads `__dirname` or resolves files by name (iovalkey,
 * dynalite, asl-validator, pg's optional native binding), the Kafka client and its signer (loaded only with
 * KAFKA_BROKERS), and build tools. Every other package is bundled: Node's loader resolved, read, detected and
 * compiled each of their hundreds of files at every start (about a third of a restart's CPU on a 2-core machine).
 */
export const EXTERNAL_PACKAGES = [
  '@electric-sql/pglite',
  'dynalite',
  'iovalkey',
  'pg',
  '@platformatic/kafka',
  'aws-msk-iam-sasl-signer-js',
  'asl-validator',
  'drizzle-kit',
  'esbuild',
  'tsx',
];

/** Each output file's own `require` (bundled CommonJS packages require Node's built-in modules with it). */
const REQUIRE_SHIM =
  "import { createRequire as __wfloCreateRequire } from 'node:module'; const require = __wfloCreateRequire(import.meta.url);";

/** The CLI's entry, relative to the repository root. */
export const CLI_ENTRY = 'infra/local/cli/cli.ts';

/** Builds unused for this long, and not among the newest few, are removed after a new build. */
const KEEP_UNUSED_MS = 24 * 60 * 60 * 1000;
const KEEP_NEWEST = 4;
/** A temporary build folder this old was left by a process that died while building. */
const ABANDONED_BUILD_MS = 60 * 60 * 1000;

const BUILD_NAME = /^[0-9a-f]{32}$/;

/** The version of the esbuild this repository installs, read without loading esbuild ('none' when absent). */
function esbuildVersion(root) {
  try {
    const require = createRequire(join(root, 'package.json'));
    return JSON.parse(readFileSync(require.resolve('esbuild/package.json'), 'utf8')).version;
  } catch {
    return 'none';
  }
}

/** Every file under `dir` (relative to `root`), sorted, so the key does not depend on directory order. */
function filesUnder(root, dir, out) {
  let entries;
  try {
    entries = readdirSync(join(root, dir), { withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return;
    throw error;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) filesUnder(root, path, out);
    else if (e.isFile() || e.isSymbolicLink()) out.push(path);
  }
}

/**
 * The cache key of the CLI built from `root` as it is now: a hash of the path and content of every source file
 * (see SOURCE_ROOTS), of the repository's absolute path (the build bakes in its source files' URLs) and of the
 * esbuild version. Reading ~250 files takes tens of ms; the content, not mtimes, decides, so an edit that
 * keeps a file's size and mtime still counts.
 */
export function sourceKey(root) {
  const hash = createHash('sha256');
  hash.update(`wflo-cli\0${root}\0${esbuildVersion(root)}\0`);
  const files = [];
  for (const dir of SOURCE_ROOTS) filesUnder(root, dir, files);
  for (const file of [...SOURCE_FILES, ...INSTALL_FILES]) if (existsSync(join(root, file))) files.push(file);
  for (const file of files) {
    hash.update(file);
    hash.update('\0');
    hash.update(readFileSync(join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * esbuild plugin: each source module keeps its own `import.meta.url` (the URL of its .ts file, or of a bundled
 * package's own .js file), so a read relative to a module (the migrations folder, createRequire) finds the same
 * file from the bundle, wherever the bundle lies. Other `import.meta` properties are refused: they would point
 * into the cache folder.
 */
function sourceUrlPlugin(root) {
  return {
    name: 'wflo-source-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (relative(root, args.path).startsWith('..')) return;
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta')) return;
        const other = /import\.meta\.(?!url\b)\w+/.exec(text);
        if (other) {
          return {
            errors: [{ text: `${other[0]} has no meaning in the prebuilt CLI: use import.meta.url` }],
          };
        }
        // Prepended on the first line: line numbers stay those of the source.
        const url = JSON.stringify(pathToFileURL(args.path).href);
        return {
          contents: `const __wfloSourceUrl = ${url};${text}`,
          loader: /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js',
        };
      });
    },
  };
}

/** Builds the CLI from `root` into `outdir` (a fresh folder); throws esbuild's first error. */
async function buildInto(esbuild, root, outdir) {
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: { cli: join(root, CLI_ENTRY) },
      outdir,
      bundle: true,
      // Every dynamic import() a separate chunk, loaded when the command needs it, as under tsx: one file
      // would hoist every package any command imports to the top and load them all at each start.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Packages are bundled, but for EXTERNAL_PACKAGES: those load from node_modules as under tsx (the cache
      // folder lies under node_modules/, so their bare names resolve from it to the repository's node_modules).
      // The AWS SDK clients the engine resolves by name at run time (aws-clients.ts) are required through a
      // createRequire of their source module, which esbuild leaves alone: they load from node_modules too.
      external: EXTERNAL_PACKAGES.flatMap((name) => [name, `${name}/*`]),
      banner: { js: REQUIRE_SHIM },
      // A package's ES module build where it has one, as the Lambda bundles do (BUNDLE_OPTIONS in
      // infra/constructs/wflo-function.ts): tree-shaken, and fewer CommonJS wrappers run at load (the AWS SDK
      // clients a start loads: about 15% less CPU than their CommonJS builds).
      mainFields: ['module', 'main'],
      // Class and function names as in the source: errors are matched by name.
      keepNames: true,
      define: { 'import.meta.url': '__wfloSourceUrl' },
      plugins: [sourceUrlPlugin(root)],
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunks/[name]-[hash]',
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
    });
  } catch (error) {
    const first = error.errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}: ` : '';
    throw new Error(first ? `${where}${first.text}` : error.message);
  }
  // The key covers SOURCE_ROOTS and the installed packages (INSTALL_FILES) only: an input from elsewhere (a
  // package linked from outside the repository) could change without a rebuild.
  for (const input of Object.keys(result.metafile.inputs)) {
    const path = input.replace(/^[a-z-]+:/, '');
    const inside =
      SOURCE_FILES.includes(path) ||
      (path.startsWith('node_modules/') && !path.split('/').includes('..')) ||
      SOURCE_ROOTS.some((dir) => path.startsWith(`${dir}/`) && !isAbsolute(path));
    if (!inside) throw new Error(`${input} is outside the sources the build's key hashes (${SOURCE_ROOTS})`);
  }
}

/** Removes builds nobody used for a day (beyond the newest few) and abandoned temporary builds. */
function prune(cacheDir, keep) {
  const now = Date.now();
  const builds = [];
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    let mtime;
    try {
      mtime = statSync(path).mtimeMs;
    } catch {
      continue;
    }
    if (name.startsWith('tmp-') && now - mtime > ABANDONED_BUILD_MS)
      rmSync(path, { recursive: true, force: true });
    else if (BUILD_NAME.test(name) && name !== keep) builds.push({ path, mtime });
  }
  builds.sort((a, b) => b.mtime - a.mtime);
  // A process may still run an older build and load its chunks later: only long-unused ones go.
  for (const b of builds.slice(KEEP_NEWEST)) {
    if (now - b.mtime > KEEP_UNUSED_MS) rmSync(b.path, { recursive: true, force: true });
  }
}

/**
 * The CLI this start should run: the cached build for the sources as they are, built now when there is none,
 * or, when building fails, the TypeScript entry for tsx with the reason. Never a build of other sources.
 *
 * Concurrent starts are safe: each builds into a folder of its own and renames it to the key's name; a rename
 * onto a build another process installed first fails, and that build (of the same sources) is used.
 *
 * @param {{ root: string, cacheDir?: string, loadEsbuild?: () => Promise<unknown> }} options
 * @returns {Promise<{ mode: 'prebuilt', entry: string, dir: string, built: boolean, ms: number }
 *   | { mode: 'tsx', entry: string, reason: string, ms: number }>}
 */
export async function chooseCli({
  root,
  cacheDir = join(root, 'node_modules', '.cache', 'wflo', 'cli'),
  loadEsbuild = () => import('esbuild'),
}) {
  const t0 = performance.now();
  const tsx = (reason) => ({
    mode: 'tsx',
    entry: pathToFileURL(join(root, CLI_ENTRY)).href,
    reason,
    ms: performance.now() - t0,
  });
  let tmp;
  try {
    const key = sourceKey(root);
    const dir = join(cacheDir, key);
    const entry = join(dir, 'cli.mjs');
    const prebuilt = (built) => ({
      mode: 'prebuilt',
      entry: pathToFileURL(entry).href,
      dir,
      built,
      ms: performance.now() - t0,
    });
    if (existsSync(entry)) {
      // Marks it used, for prune(); a read-only cache still serves.
      try {
        const now = new Date();
        utimesSync(dir, now, now);
      } catch {}
      return prebuilt(false);
    }
    mkdirSync(cacheDir, { recursive: true });
    tmp = join(cacheDir, `tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    const esbuild = await loadEsbuild();
    try {
      await buildInto(esbuild, root, tmp);
    } finally {
      await esbuild.stop?.();
    }
    // Packages are imported by name from the build's folder: under the repository they resolve to its
    // node_modules by Node's upward search; a cache elsewhere (WFLO_CLI_CACHE_DIR) gets a link to it.
    if (relative(root, tmp).startsWith('..'))
      symlinkSync(join(root, 'node_modules'), join(tmp, 'node_modules'), 'dir');
    // A source saved while esbuild read the sources: the build may mix both versions, and is not kept.
    if (sourceKey(root) !== key) return tsx('a source changed while the CLI was being built');
    try {
      renameSync(tmp, dir);
      tmp = undefined;
    } catch (error) {
      // Another start installed the same sources' build first: that one is used.
      if (!existsSync(entry)) throw error;
    }
    try {
      prune(cacheDir, key);
    } catch {}
    return prebuilt(true);
  } catch (error) {
    return tsx(error.message);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}
