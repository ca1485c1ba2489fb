import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import type { TaskTokenCallbacks } from '#shared/ports/task-callbacks';
import { createApp } from '../../functions/api/app.ts';
import { ACTIVITIES } from '../../infra/activities.ts';
import { type LambdaHandler, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { localEngine } from '../../infra/local/engine/runtime.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * POST /task-tokens/{token}/success|failure|heartbeat and their body forms over the embedded engine: the
 * answer resumes the waiting Task; what Step Functions refuses is refused with its error name and changes
 * nothing.
 */

const activity = ACTIVITIES[0]!;
const TOKEN_FN = localFunctionArn('token-api');
const tokens: string[] = [];
const handlers: Record<string, LambdaHandler> = {
  [TOKEN_FN]: async (event) => {
    tokens.push(String((event as { token?: unknown }).token));
    return {};
  },
};

const wf: Workflow = {
  name: 'ask',
  description: 'ask',
  file: 'ask.asl.json',
  definition: {
    StartAt: 'Ask',
    States: {
      Ask: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: TOKEN_FN, Payload: { 'token.$': '$$.Task.Token' } },
        HeartbeatSeconds: 60,
        End: true,
      },
    },
  },
  variables: [],
};

let store: Store;
let closeStore: () => Promise<void>;
let o: LocalOrchestrator;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
  o = new LocalOrchestrator({
    workflows: new Map([[wf.name, wf]]),
    functions: new Map(Object.entries(handlers).map(([arn, handler]) => [arn, { activity, handler }])),
    store,
  });
  app = createApp({ store, engine: localEngine(o), taskTokens: o });
}, 120_000);
afterAll(async () => {
  await closeStore();
});

/** Starts a waiting run; resolves with its token and its handle. */
async function waiting() {
  const id = `ask-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: wf.name, input: {}, running: true });
  const before = tokens.length;
  const handle = o.start(wf.name, id, {});
  await expect.poll(() => tokens.length, { timeout: 20_000, interval: 20 }).toBeGreaterThan(before);
  await expect
    .poll(async () => ((await store.readJournal(id))['s:Ask#1'] as { invoked?: boolean })?.invoked, {
      timeout: 20_000,
      interval: 20,
    })
    .toBe(true);
  return { id, token: tokens.at(-1)!, handle };
}

const post = (path: string, body?: unknown) =>
  app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('POST /task-tokens/{token}/…', () => {
  it('resumes the waiting Task with the output; a second answer is TaskTimedOut (410) and changes nothing', async () => {
    // Prepare
    const { token, handle } = await waiting();

    // Act
    const ok = await post(`/task-tokens/${encodeURIComponent(token)}/success`, {
      output: { approved: true },
    });
    const outcome = await handle.done;
    const again = await post(`/task-tokens/${encodeURIComponent(token)}/success`, {
      output: { approved: false },
    });

    // Assess
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ accepted: 'success' });
    expect(outcome).toMatchObject({ status: 'succeeded', output: { approved: true } });
    expect(again.status).toBe(410);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(await again.json()).toMatchObject({ title: 'TaskTimedOut', status: 410 });
  });

  it('fails the Task with the error and cause (token in the body), heartbeats first', async () => {
    // Prepare
    const { id, token, handle } = await waiting();

    // Act
    const beat = await post('/task-tokens/heartbeat', { taskToken: token });
    const beatByPath = await post(`/task-tokens/${encodeURIComponent(token)}/heartbeat`);
    const failed = await post('/task-tokens/failure', { taskToken: token, error: 'Rejected', cause: 'no' });
    await handle.done;

    // Assess
    expect([beat.status, beatByPath.status, failed.status]).toEqual([200, 200, 200]);
    const row = (await store.getExecution(id))!;
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'Rejected', cause: 'no' });
  });

  it('refuses unknown, malformed and oversized answers with the Step Functions names, and the Task still waits', async () => {
    // Prepare
    const { token, handle } = await waiting();
    const forged = `${token.split('.')[0]}.AAAAAAAAAAAAAAAAAAAAAA`;

    // Act
    const unknown = await post(`/task-tokens/${encodeURIComponent(forged)}/success`, { output: {} });
    const malformed = await post('/task-tokens/not-a-token/failure', {});
    const big = await post(`/task-tokens/${encodeURIComponent(token)}/success`, {
      output: 'x'.repeat(256 * 1024),
    });
    const missing = await post(`/task-tokens/${encodeURIComponent(token)}/success`, {});
    const unknownBeat = await post('/task-tokens/heartbeat', { taskToken: forged });
    const answered = await post('/task-tokens/success', { taskToken: token, output: 7 });
    const outcome = await handle.done;

    // Assess
    expect([unknown.status, ((await unknown.json()) as { title: string }).title]).toEqual([
      404,
      'TaskDoesNotExist',
    ]);
    expect([malformed.status, ((await malformed.json()) as { title: string }).title]).toEqual([
      400,
      'InvalidToken',
    ]);
    expect([big.status, ((await big.json()) as { title: string }).title]).toEqual([400, 'InvalidOutput']);
    expect(missing.status).toBe(400);
    expect(unknownBeat.status).toBe(404);
    expect(answered.status).toBe(200);
    expect(outcome).toMatchObject({ status: 'succeeded', output: 7 });
  });
});

describe('Task tokens in the path', () => {
  it('keep +, / and = through URL encoding, in the path and the body', async () => {
    // Prepare: Step Functions tokens are base64 with +, / and =
    const seen: string[] = [];
    const recording: TaskTokenCallbacks = {
      sendTaskSuccess: async (t) => void seen.push(t),
      sendTaskFailure: async (t) => void seen.push(t),
      sendTaskHeartbeat: async (t) => void seen.push(t),
    };
    const sfnApp = createApp({ store, engine: localEngine(o), taskTokens: recording });
    const token = 'AQCEAAAAKgAAAAMAAAAA+/b/c==';
    const send = (path: string, body: unknown) =>
      sfnApp.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    // Act
    const statuses = [
      (await send(`/task-tokens/${encodeURIComponent(token)}/success`, { output: null })).status,
      (await send(`/task-tokens/${encodeURIComponent(token)}/failure`, {})).status,
      (await send('/task-tokens/heartbeat', { taskToken: token })).status,
    ];

    // Assess
    expect(statuses).toEqual([200, 200, 200]);
    expect(seen).toEqual([token, token, token]);
  });

  it('answers 503 on an API without an engine that takes callbacks', async () => {
    const bare = createApp({ store, engine: localEngine(o) });
    const res = await bare.request('/task-tokens/heartbeat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ taskToken: 'a.b' }),
    });
    expect(res.status).toBe(503);
  });
});
