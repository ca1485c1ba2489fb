import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '#local/engine/db/client';
import { createStore } from '#shared/store/create-store';

// Real processes on one embedded data directory: `wflo dev` and the commands a user types next to it.
const dataDir = join(mkdtempSync(join(tmpdir(), 'wflo-owner-')), 'data');
const env = {
  ...process.env,
  DATABASE_URL: '',
  REDIS_URL: '',
  WFLO_DATA_DIR: dataDir,
  POWERTOOLS_METRICS_DISABLED: 'true',
};
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function wflo(args: string[]) {
  const r = spawnSync(process.execPath, ['infra/local/bin/wflo.mjs', ...args], {
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `wflo dev` on a free port and resolves with its process and URL once it serves. */
function startDev(): Promise<{ child: ChildProcessWithoutNullStreams; url: string }> {
  const child = spawn(process.execPath, ['infra/local/bin/wflo.mjs', 'dev', '--port', '0'], { env });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /API\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`wflo dev exited with ${code} before serving:\n${out}`)));
  });
}

const exited = (child: ChildProcessWithoutNullStreams) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

async function helloRows(): Promise<{ status: string }[]> {
  const store = createStore(await openDb({ kind: 'pglite', dataDir: join(dataDir, 'pgdata') }));
  try {
    return (await store.listExecutions({ workflow: 'hello', limit: 100 })).items;
  } finally {
    await store.close();
  }
}

describe('One owner per embedded data directory (real processes)', () => {
  it('wflo run next to wflo dev submits through its API: every run is kept; a second wflo dev is refused', async () => {
    // Prepare
    const dev = await startDev();

    // Act
    const runs = [1, 2, 3].map(() => wflo(['run', 'hello', '--input', '{"name":"Ada"}']));
    const second = wflo(['dev', '--port', '0']);
    dev.child.kill('SIGTERM');
    await exited(dev.child);

    // Assess
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`using wflo dev at ${dev.url}`);
    }
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by \`wflo dev\` \\(pid ${dev.child.pid},`));
    const rows = await helloRows();
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  }, 300_000);

  it('a claim left by a killed process (kill -9) is taken over by the next command', async () => {
    // Prepare
    const dev = await startDev();
    dev.child.kill('SIGKILL');
    await exited(dev.child);

    // Act
    const r = wflo(['run', 'hello', '--input', '{"name":"Bo"}']);

    // Assess: it ran embedded (no owner to talk to) and its row is there
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('using wflo dev');
    expect(await helloRows()).toHaveLength(4);
  }, 300_000);
});
