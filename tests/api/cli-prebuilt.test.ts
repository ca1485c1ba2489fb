/**
 * The real `wflo` command through its prebuilt CLI (infra/local/bin/cli-build.mjs) and through its fallback:
 * `wflo run hello` succeeds either way, and says which one ran (WFLO_VERBOSE=1).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const scratch = mkdtempSync(join(tmpdir(), 'wflo-cli-prebuilt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `wflo run hello --json` with the CLI cache in `cacheDir`, in a fresh data folder. */
function runHello(cacheDir: string) {
  const r = spawnSync(process.execPath, ['infra/local/bin/wflo.mjs', 'run', 'hello', '--json'], {
    encoding: 'utf8',
    env: {
      ...process.env,
      DATABASE_URL: '',
      REDIS_URL: '',
      WFLO_DATA_DIR: mkdtempSync(join(scratch, 'data-')),
      WFLO_CLI_CACHE_DIR: cacheDir,
      WFLO_CLI_BUILD: '',
      WFLO_VERBOSE: '1',
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    // PGlite's first start and a build of the CLI, on a machine other suites load too.
    timeout: 200_000,
  });
  const status = r.status === 0 ? (JSON.parse(r.stdout) as { status: string }).status : undefined;
  return { code: r.status, status, stderr: r.stderr };
}

describe('CLI: wflo run through the prebuilt CLI', { timeout: 450_000 }, () => {
  it('builds the CLI on the first start, runs the cached build on the next, and both runs succeed', () => {
    // Prepare: a cache outside the repository (its builds reach node_modules through a link)
    const cacheDir = join(scratch, 'cache');

    // Act
    const first = runHello(cacheDir);
    const second = runHello(cacheDir);

    // Assess
    expect(first.stderr).toMatch(/wflo: CLI prebuilt \(built now, /);
    expect(first).toMatchObject({ code: 0, status: 'succeeded' });
    expect(second.stderr).toMatch(/wflo: CLI prebuilt \(cached, /);
    expect(second).toMatchObject({ code: 0, status: 'succeeded' });
    expect(readdirSync(cacheDir)).toHaveLength(1);
  });

  it('runs the TypeScript through tsx when the CLI cannot be built, and the run still succeeds', () => {
    // Prepare: a cache folder that cannot be made (its parent is a file)
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, '');

    // Act
    const r = runHello(join(file, 'cache'));

    // Assess
    expect(r.stderr).toMatch(/wflo: running the CLI through tsx: ENOTDIR/);
    expect(r).toMatchObject({ code: 0, status: 'succeeded' });
  });
});
