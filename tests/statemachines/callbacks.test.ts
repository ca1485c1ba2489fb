import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redriveExecution } from '#shared/executions';
import type { Store } from '#shared/ports/store';
import { ACTIVITIES } from '../../infra/activities.ts';
import { TaskCallbackHub } from '../../infra/local/engine/callbacks.ts';
import {
  type LambdaHandler,
  type LocalIntegration,
  LocalOrchestrator,
} from '../../infra/local/engine/orchestrator.ts';
import { localEngine } from '../../infra/local/engine/runtime.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * `.waitForTaskToken` on the embedded engine beyond the first answer: HeartbeatSeconds (no heartbeat in time
 * fails the Task with States.HeartbeatTimeout, a heartbeat starts the clock again, the deadline outlives the
 * process), `$$.Task.Token` for service integrations, and TimeoutSecondsPath on a bare Lambda ARN. Seconds are
 * kept to 1–2 so the waits are real but short.
 */

const activity = ACTIVITIES[0]!;
const TOKEN_FN = localFunctionArn('token-cb');
const SLEEPY = localFunctionArn('sleepy-cb');
const SERVICE = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';

let store: Store;
let closeStore: () => Promise<void>;
const tokens: string[] = [];
const serviceParams: unknown[] = [];

const handlers: Record<string, LambdaHandler> = {
  [TOKEN_FN]: async (event) => {
    tokens.push(String((event as { token?: unknown }).token));
    return {};
  },
  [SLEEPY]: (event) =>
    new Promise((r) => setTimeout(() => r({ slept: true }), Number((event as { ms?: unknown }).ms))),
};
const service: LocalIntegration = async (params) => {
  serviceParams.push(params);
  return { MessageId: 'm-1' };
};

function workflow(name: string, definition: object): Workflow {
  return {
    name,
    description: name,
    file: `${name}.asl.json`,
    definition: definition as never,
    variables: [],
  };
}

function orchestrator(workflows: Workflow[]) {
  return new LocalOrchestrator({
    workflows: new Map(workflows.map((w) => [w.name, w])),
    functions: new Map(Object.entries(handlers).map(([arn, handler]) => [arn, { activity, handler }])),
    integrations: new Map([[SERVICE, service]]),
    store,
  });
}

async function created(workflowName: string, input: object = {}): Promise<string> {
  const id = `${workflowName}-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: workflowName, input, running: true });
  return id;
}

/** A callback Task with HeartbeatSeconds whose timeout the Catch routes to `Expired`. */
const heartbeatWorkflow = (name: string, heartbeatSeconds: number) =>
  workflow(name, {
    StartAt: 'Ask',
    States: {
      Ask: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
        Parameters: { FunctionName: TOKEN_FN, Payload: { 'token.$': '$$.Task.Token' } },
        HeartbeatSeconds: heartbeatSeconds,
        TimeoutSeconds: 60,
        End: true,
      },
    },
  });

async function nextToken(before: number): Promise<string> {
  await expect.poll(() => tokens.length, { timeout: 20_000, interval: 20 }).toBeGreaterThan(before);
  return tokens.at(-1)!;
}

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
}, 120_000);
afterAll(async () => {
  await closeStore();
});

describe('HeartbeatSeconds', () => {
  it('fails a Task that gets no heartbeat in time with States.HeartbeatTimeout, then refuses its token', async () => {
    // Prepare
    const wf = heartbeatWorkflow('hb-none', 1);
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    const before = tokens.length;
    const t0 = Date.now();

    // Act
    const handle = o.start(wf.name, id, {});
    const token = await nextToken(before);
    const outcome = await handle.done;
    const elapsed = Date.now() - t0;
    const late = await o.sendTaskSuccess(token, { late: true }).catch((e: Error) => e.name);

    // Assess: at HeartbeatSeconds, far before TimeoutSeconds (60)
    expect(outcome).toMatchObject({ status: 'failed', error: { error: 'States.HeartbeatTimeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(10_000);
    expect(late).toBe('TaskTimedOut');
  });

  it('keeps a Task waiting past HeartbeatSeconds while heartbeats come, then takes the answer', async () => {
    // Prepare
    const wf = heartbeatWorkflow('hb-beats', 1);
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    const before = tokens.length;
    const handle = o.start(wf.name, id, {});
    const token = await nextToken(before);
    const t0 = Date.now();

    // Act: three heartbeats 500 ms apart, 1.5 s in all, more than HeartbeatSeconds
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await o.sendTaskHeartbeat(token);
    }
    const waited = Date.now() - t0;
    await o.sendTaskSuccess(token, { approved: true });
    const outcome = await handle.done;

    // Assess
    expect(waited).toBeGreaterThan(1_000);
    expect(outcome).toMatchObject({ status: 'succeeded', output: { approved: true } });
  });

  it('keeps the heartbeat deadline across a restart: no fresh HeartbeatSeconds for the next process', async () => {
    // Prepare: the first process invokes the Task and stops
    const wf = heartbeatWorkflow('hb-restart', 2);
    const first = orchestrator([wf]);
    const id = await created(wf.name);
    const before = tokens.length;
    first.start(wf.name, id, {});
    const token = await nextToken(before);
    await expect
      .poll(async () => Object.keys(await store.readJournal(id)).some((k) => k.startsWith('hb:')), {
        timeout: 20_000,
        interval: 20,
      })
      .toBe(true);
    await first.detachAll();

    // Act: the deadline passes while no process runs the Task, then the next process resumes it
    await new Promise((r) => setTimeout(r, 2_200));
    const offline = await new TaskCallbackHub(store).sendTaskHeartbeat(token).catch((e: Error) => e.name);
    const second = orchestrator([wf]);
    const t1 = Date.now();
    await second.resumeOrphans({ exclusive: true });
    await second.drain();
    const afterResume = Date.now() - t1;

    // Assess: a heartbeat after the deadline is refused, and the resumed Task fails at once, not 2 s later
    expect(offline).toBe('TaskTimedOut');
    const row = (await store.getExecution(id))!;
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.HeartbeatTimeout' });
    expect(afterResume).toBeLessThan(1_900);
  });
});

describe('Redrive of a callback Task', () => {
  it('asks again with a new token instead of replaying the answer that failed the run', async () => {
    // Prepare: the first answer fails the run
    const wf = heartbeatWorkflow('cb-redrive', 60);
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    let before = tokens.length;
    const first = o.start(wf.name, id, {});
    const rejected = await nextToken(before);
    await o.sendTaskFailure(rejected, 'Rejected', 'not yet');
    expect((await first.done).status).toBe('failed');

    // Act: redrive, then answer the new token
    before = tokens.length;
    await redriveExecution({ store, engine: localEngine(o) }, id);
    const asked = await nextToken(before);
    const stale = await o.sendTaskSuccess(rejected, { stale: true }).catch((e: Error) => e.name);
    await o.sendTaskSuccess(asked, { approved: true });
    await o.drain();

    // Assess
    expect(asked).not.toBe(rejected);
    expect(stale).toBe('TaskDoesNotExist');
    const row = (await store.getExecution(id))!;
    expect(row.status).toBe('succeeded');
    expect(row.output).toEqual({ approved: true });
  });
});

describe('$$.Task.Token for service integrations', () => {
  it('hands a .waitForTaskToken service integration a token that resumes the Task', async () => {
    // Prepare
    const wf = workflow('svc-token', {
      StartAt: 'Send',
      States: {
        Send: {
          Type: 'Task',
          Resource: SERVICE,
          Parameters: {
            QueueUrl: 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
            MessageBody: { 'token.$': '$$.Task.Token' },
          },
          End: true,
        },
      },
    });
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    const before = serviceParams.length;

    // Act
    const handle = o.start(wf.name, id, {});
    await expect.poll(() => serviceParams.length, { timeout: 20_000, interval: 20 }).toBeGreaterThan(before);
    const token = (serviceParams.at(-1) as { MessageBody: { token: string } }).MessageBody.token;
    await o.sendTaskSuccess(token, { done: 1 });
    const outcome = await handle.done;

    // Assess: the integration's own result is not the Task's; the callback's output is
    expect(token).toMatch(/^[\w-]+\.[\w-]+$/);
    expect(outcome).toMatchObject({ status: 'succeeded', output: { done: 1 } });
  });
});

describe('TimeoutSecondsPath', () => {
  it('times out a bare Lambda ARN Task after the seconds its input names (the issue case)', async () => {
    // Prepare: `TimeoutSecondsPath: "$.timeout"`, input { timeout: 1 }, a 2.5 s handler
    const wf = workflow('timeout-path-arn', {
      StartAt: 'Slow',
      States: {
        Slow: {
          Type: 'Task',
          Resource: SLEEPY,
          Parameters: { ms: 2_500 },
          TimeoutSecondsPath: '$.timeout',
          End: true,
        },
      },
    });
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    const t0 = Date.now();

    // Act
    const outcome = await o.start(wf.name, id, { timeout: 1 }).done;
    const elapsed = Date.now() - t0;

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', error: { error: 'States.Timeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(2_400);
  });
});
