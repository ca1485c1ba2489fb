/**
 * `wflo dev --allow-remote` as a user starts it: the real command, bound to every interface, printing the
 * token it made; requests without it are refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw-http.ts';

let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGTERM');
});

/** Starts `wflo dev` and resolves with what it printed once it says it is serving. */
function startDev(args: string[]): Promise<string> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'wflo-dev-')), 'data');
  child = spawn(process.execPath, ['infra/local/bin/wflo.mjs', 'dev', ...args], {
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '', WFLO_API_TOKEN: '', WFLO_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('Ctrl+C stops the server.')) resolve(out);
    });
    child!.once('exit', (code) => reject(new Error(`wflo dev exited ${code} before serving:\n${out}`)));
  });
}

describe('CLI: wflo dev --allow-remote', () => {
  it('binds beyond loopback only with the flag, prints a fresh token, and every request needs it', async () => {
    // Act
    const out = await startDev(['--host', '0.0.0.0', '--port', '0', '--allow-remote']);
    const token = /export WFLO_API_TOKEN=(\S+)/.exec(out)?.[1];
    const port = /API +http:\/\/0\.0\.0\.0:(\d+)/.exec(out)?.[1];
    const url = `http://127.0.0.1:${port}`;
    const without = await rawRequest(`${url}/executions`);
    const wrong = await rawRequest(`${url}/executions`, { headers: { authorization: 'Bearer nope' } });
    const right = await rawRequest(`${url}/executions`, { headers: { authorization: `Bearer ${token}` } });

    // Assess
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(port).toMatch(/^\d+$/);
    expect(out).toContain('-H "authorization: Bearer $WFLO_API_TOKEN"');
    expect(without.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
  });
});
