import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskCallbackError } from '#shared/errors';
import type { TaskTokenCallbacks } from '#shared/ports/task-callbacks';
import { createApp } from '../../functions/api/app.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';
import { runWfloCli, startSigV4Gateway } from './sigv4-gateway.ts';

/*
 * `wflo task-success | task-failure | task-heartbeat` against a remote API (signed, as the deployed one is):
 * each reaches SendTaskSuccess/Failure/Heartbeat with the token unchanged (Step Functions tokens carry + / =),
 * and a refusal is printed with its Step Functions name and exit status 1.
 */

// Static test keys: the gateway recomputes every signature with them; they open nothing anywhere else.
const KEYS = {
  accessKeyId: 'AKIDWFLOTESTKEY00003',
  secretAccessKey: 'wflo-test-secret-key-not-a-real-three',
};
const REGION = 'eu-west-1';
const TOKEN = 'AQCEAAAAKgAAAAMAAAAA+/b/c==';
const GONE = 'AQCEAAAAKgAAAAMAAAAAgone==';

let local: LocalRuntime;
let gateway: Awaited<ReturnType<typeof startSigV4Gateway>>;
const sent: { kind: string; token: string; output?: unknown; error?: string; cause?: string }[] = [];

beforeAll(async () => {
  local = await startLocal();
  const refuse = (token: string) => {
    if (token === GONE) throw new TaskCallbackError('TaskTimedOut', 'the task is already closed');
  };
  const callbacks: TaskTokenCallbacks = {
    sendTaskSuccess: async (token, output) => {
      refuse(token);
      sent.push({ kind: 'success', token, output });
    },
    sendTaskFailure: async (token, error, cause) => {
      refuse(token);
      sent.push({ kind: 'failure', token, error, cause });
    },
    sendTaskHeartbeat: async (token) => {
      refuse(token);
      sent.push({ kind: 'heartbeat', token });
    },
  };
  const app = createApp({ store: local.runtime.store, engine: local.engine, taskTokens: callbacks });
  gateway = await startSigV4Gateway(app, { region: REGION, stage: 'v1', ...KEYS });
});
afterAll(async () => {
  await gateway?.close();
  await stopLocal(local);
});

const wflo = (args: string[]) => runWfloCli([...args, '--api-url', gateway.url], { ...KEYS, region: REGION });

describe('CLI: wflo task-success | task-failure | task-heartbeat (against the API, signed)', () => {
  it('sends each callback with the token unchanged, the output from a file, and reports a refusal', async () => {
    // Prepare
    const file = join(mkdtempSync(join(tmpdir(), 'wflo-output-')), 'out.json');
    writeFileSync(file, JSON.stringify({ approved: true, by: 'alice' }));

    // Act
    const beat = await wflo(['task-heartbeat', TOKEN]);
    const ok = await wflo(['task-success', TOKEN, '--output', `@${file}`]);
    const failed = await wflo(['task-failure', TOKEN, '--error', 'Rejected', '--cause', 'not now']);
    const gone = await wflo(['task-success', GONE, '--output', '{"late":true}']);
    const usage = await wflo(['task-success']);

    // Assess
    expect([beat.code, ok.code, failed.code]).toEqual([0, 0, 0]);
    expect(ok.stdout).toContain('task success: accepted');
    expect(sent).toEqual([
      { kind: 'heartbeat', token: TOKEN },
      { kind: 'success', token: TOKEN, output: { approved: true, by: 'alice' } },
      { kind: 'failure', token: TOKEN, error: 'Rejected', cause: 'not now' },
    ]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/HTTP 410: TaskTimedOut/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/wflo task-success takes exactly one task token/);
  });
});
