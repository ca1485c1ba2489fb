import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '#local/engine/db/client';
import { createStore } from '#shared/store/create-store';

/** Runs the real `wflo` command in a fresh data folder (or the one given). */
function wflo(args: string[], dataDir = join(mkdtempSync(join(tmpdir(), 'wflo-cli-')), 'data')) {
  const r = spawnSync(process.execPath, ['infra/local/bin/wflo.mjs', ...args], {
    encoding: 'utf8',
    // The embedded default: no server URLs from an integration run.
    env: {
      ...process.env,
      DATABASE_URL: '',
      REDIS_URL: '',
      WFLO_DATA_DIR: dataDir,
      POWERTOOLS_METRICS_DISABLED: 'true',
    },
    // A cold `wflo` (tsx, then PGlite) took 44 s at load average 16: room for a busy machine, not a hang.
    timeout: 200_000,
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout, dataDir };
}

describe('CLI: wflo run refuses bad input before writing anything', { timeout: 240_000 }, () => {
  it.each([
    [['run', 'hello', '--input', '{"name":'], /--input is not valid JSON/],
    [['run', 'hello', '--input', '[1,2]'], /--input must be a JSON object/],
    [['run', 'hello', '--budget=-1'], /--budget: .*non-negative/],
    [['run', 'hello', '--budget', '0.0000001'], /--budget: more than 6 decimal places/],
    [['run'], /exactly one workflow name/],
    [['watch'], /wflo watch needs --workflow <name>/],
    [['nope'], /unknown command 'nope'/],
    [['dev', '--host', '0.0.0.0'], /--host 0\.0\.0\.0 is reachable from other machines: add --allow-remote/],
  ])('%j → exit 2 with a message, no data folder', (args, message) => {
    const r = wflo(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(r.dataDir)).toBe(false);
  });

  it('an unknown workflow exits 1 naming it, and no execution is recorded', async () => {
    const r = wflo(['run', 'no-such-workflow', '--input', '{}']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/workflow 'no-such-workflow' does not exist/);
    const store = createStore(await openDb({ kind: 'pglite', dataDir: join(r.dataDir, 'pgdata') }));
    try {
      expect((await store.listExecutions({ limit: 10 })).items).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe('CLI: wflo redrive says why a run cannot be redriven', { timeout: 400_000 }, () => {
  it('an unknown id and a succeeded run each exit 1 with the API problem (404, 409 naming the status)', async () => {
    // Prepare: a data folder holding one succeeded run, as `wflo run` leaves it
    const dataDir = join(mkdtempSync(join(tmpdir(), 'wflo-cli-')), 'data');
    const store = createStore(await openDb({ kind: 'pglite', dataDir: join(dataDir, 'pgdata') }));
    try {
      await store.createExecution({ id: 'hello-done-1', workflow: 'hello', input: {}, running: true });
      await store.finishExecution({ id: 'hello-done-1', status: 'succeeded', output: {} });
    } finally {
      await store.close();
    }

    // Act
    const unknown = wflo(['redrive', 'no-such-run'], dataDir);
    const succeeded = wflo(['redrive', 'hello-done-1'], dataDir);

    // Assess
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /^wflo: ApiRequestError: POST \/executions\/no-such-run\/redrive: HTTP 404: execution 'no-such-run' does not exist/m,
    );
    expect(succeeded.code).toBe(1);
    expect(succeeded.stderr).toMatch(
      /^wflo: ApiRequestError: POST \/executions\/hello-done-1\/redrive: HTTP 409: execution 'hello-done-1' is succeeded: only failed, timed_out or cancelled runs can be redriven/m,
    );
    expect(succeeded.stdout).toBe('');
  });
});
