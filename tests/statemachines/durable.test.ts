import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redriveExecution } from '#shared/executions';
import type { Store } from '#shared/ports/store';
import { ACTIVITIES } from '../../infra/activities.ts';
import type { InterpreterClock } from '../../infra/local/engine/interpreter/interpreter.ts';
import { type LambdaHandler, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { localEngine } from '../../infra/local/engine/runtime.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * The embedded engine's durability, with the real store: a run another orchestrator let go of (as a process
 * that died would) is resumed from its journal, deadlines survive the handover, failed runs are redriven over
 * kept results, and `.waitForTaskToken` Tasks wait for SendTaskSuccess/Failure across a restart.
 */

const activity = ACTIVITIES[0]!;
const COUNT = localFunctionArn('count');
const FLAKY = localFunctionArn('flaky');
const TOKEN = localFunctionArn('token');
const SLEEPY = localFunctionArn('sleepy');

let store: Store;
let closeStore: () => Promise<void>;
const calls = new Map<string, number>();
/** Item values (or state names) the flaky handler fails for until it is told otherwise. */
const failing = new Set<string>();
const tokens: string[] = [];

class FlakyError extends Error {
  override name = 'FlakyError';
}

const bump = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);
const handlers: Record<string, LambdaHandler> = {
  [COUNT]: async (event) => {
    const key = String((event as { key?: unknown }).key);
    bump(key);
    return { key, n: calls.get(key) };
  },
  [FLAKY]: async (event) => {
    const key = String((event as { key?: unknown }).key);
    bump(key);
    if (failing.has(key)) throw new FlakyError(`failing ${key}`);
    return { ok: key };
  },
  [TOKEN]: async (event) => {
    bump('token');
    tokens.push(String((event as { token?: unknown }).token));
    return {};
  },
  [SLEEPY]: (event) =>
    new Promise((r) => setTimeout(() => r({ slept: true }), Number((event as { ms?: unknown }).ms))),
};

const task = (fn: string, payload: object, extra: object = {}) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn, Payload: payload },
  ResultSelector: { 'r.$': '$.Payload' },
  ...extra,
});

function workflow(name: string, definition: object): Workflow {
  return {
    name,
    description: name,
    file: `${name}.asl.json`,
    definition: definition as never,
    variables: [],
  };
}

/** A clock the test moves: sleeps resolve when `advance` passes their end. */
class ManualClock implements InterpreterClock {
  t = Date.parse('2026-01-01T00:00:00Z');
  readonly sleeps: { until: number; resolve: () => void; requested: number }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = { until: this.t + ms, resolve, requested: ms };
      this.sleeps.push(entry);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  advance(ms: number): void {
    this.t += ms;
    for (const s of this.sleeps.filter((x) => x.until <= this.t)) s.resolve();
  }
  async waitForSleeps(n: number): Promise<void> {
    await expect.poll(() => this.sleeps.length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(n);
  }
}

function orchestrator(workflows: Workflow[], options: { clock?: InterpreterClock; owner?: string } = {}) {
  return new LocalOrchestrator({
    workflows: new Map(workflows.map((w) => [w.name, w])),
    functions: new Map(Object.entries(handlers).map(([arn, handler]) => [arn, { activity, handler }])),
    store,
    retryIntervalScale: 1,
    ...options,
  });
}

async function created(workflowName: string, input: object = {}): Promise<string> {
  const id = `${workflowName}-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: workflowName, input, running: true });
  return id;
}

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
}, 120_000);
afterAll(async () => {
  await closeStore();
});

describe('Resume: a run another process let go of continues from its journal', () => {
  it('answers finished Tasks from their records and runs again only what was in flight', async () => {
    // Prepare: step One finishes, step Two waits on a Wait; the first orchestrator lets go during the Wait
    const clock = new ManualClock();
    const wf = workflow('resume-basic', {
      StartAt: 'One',
      States: {
        One: task(
          COUNT,
          { 'key.$': "States.Format('{}-one', $$.Execution.Name)" },
          { ResultPath: '$.one', Next: 'Pause' },
        ),
        Pause: { Type: 'Wait', Seconds: 60, Next: 'Two' },
        Two: task(
          COUNT,
          { 'key.$': "States.Format('{}-two', $$.Execution.Name)" },
          { ResultPath: '$.two', End: true },
        ),
      },
    });
    const first = orchestrator([wf], { clock });
    const id = await created(wf.name, { x: 1 });
    const handle = first.start(wf.name, id, { x: 1 });
    await clock.waitForSleeps(1);
    clock.advance(20_000);

    // Act: the first process stops; a second one on the same store resumes what was left running
    await first.detachAll();
    const second = orchestrator([wf], { clock });
    const resumed = await second.resumeOrphans({ exclusive: true });
    await clock.waitForSleeps(2);
    const remaining = clock.sleeps[1]!.requested;
    clock.advance(40_000);
    const outcome = await Promise.race([
      second.drain().then(async () => (await store.getExecution(id))!),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('not resumed')), 30_000)),
    ]);

    // Assess
    expect((await handle.done).status).toBe('running');
    expect(resumed).toEqual([id]);
    expect(remaining, 'the Wait keeps its deadline: 40 s were left of 60').toBe(40_000);
    expect(outcome.status).toBe('succeeded');
    expect(calls.get(`${id}-one`), 'One finished before the handover and is not called again').toBe(1);
    expect(calls.get(`${id}-two`)).toBe(1);
    expect(outcome.output).toMatchObject({ x: 1, one: { r: { n: 1 } }, two: { r: { n: 1 } } });
    const events = await store.listEvents(id, 0, 100);
    expect(events.map((e) => e.type)).toContain('execution.resumed');
  });

  it("keeps a retry's back-off deadline across the handover", async () => {
    // Prepare: Flaky fails once, then its Retry waits 30 s; the handover comes 10 s into the back-off
    const clock = new ManualClock();
    const wf = workflow('resume-retry', {
      StartAt: 'Flaky',
      States: {
        Flaky: task(
          FLAKY,
          { 'key.$': '$$.Execution.Name' },
          {
            Retry: [{ ErrorEquals: ['FlakyError'], IntervalSeconds: 30, MaxAttempts: 2, BackoffRate: 2 }],
            End: true,
          },
        ),
      },
    });
    const first = orchestrator([wf], { clock });
    const id = await created(wf.name);
    failing.add(id);
    first.start(wf.name, id, {});
    await clock.waitForSleeps(1);
    clock.advance(10_000);
    failing.delete(id);

    // Act
    await first.detachAll();
    const second = orchestrator([wf], { clock });
    await second.resumeOrphans({ exclusive: true });
    await clock.waitForSleeps(2);
    const remaining = clock.sleeps[1]!.requested;
    clock.advance(20_000);
    await second.drain();

    // Assess
    expect(remaining).toBe(20_000);
    expect((await store.getExecution(id))!.status).toBe('succeeded');
    expect(calls.get(id), 'one failed attempt, one after the handover').toBe(2);
  });

  it('resumes many left runs several at a time, each exactly once when two processes race for them', async () => {
    // Prepare: 12 runs in a Wait, let go of; two processes then resume the same list at once
    const clock = new ManualClock();
    const wf = workflow('resume-many', {
      StartAt: 'Pause',
      States: {
        Pause: { Type: 'Wait', Seconds: 10, Next: 'One' },
        One: task(COUNT, { 'key.$': '$$.Execution.Name' }, { End: true }),
      },
    });
    const first = orchestrator([wf], { clock });
    const ids = await Promise.all(Array.from({ length: 12 }, () => created(wf.name)));
    for (const id of ids) first.start(wf.name, id, {});
    await clock.waitForSleeps(12);
    await first.detachAll();
    const a = orchestrator([wf], { clock });
    const b = orchestrator([wf], { clock });
    const mine = (rows: Awaited<ReturnType<LocalOrchestrator['findOrphans']>>) =>
      rows.filter((r) => ids.includes(r.id));
    const [rowsA, rowsB] = [
      mine(await a.findOrphans({ exclusive: true })),
      mine(await b.findOrphans({ exclusive: true })),
    ];

    // Act
    const [byA, byB] = await Promise.all([a.resume(rowsA, { batch: 4 }), b.resume(rowsB, { batch: 4 })]);
    await clock.waitForSleeps(24);
    clock.advance(10_000);
    await Promise.all([a.drain(), b.drain()]);

    // Assess
    expect(rowsA.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect([...byA, ...byB].sort(), 'every run resumed, none by both').toEqual([...ids].sort());
    for (const id of ids) {
      expect((await store.getExecution(id))!.status).toBe('succeeded');
      expect(calls.get(id), 'the step after the Wait ran once').toBe(1);
    }
  });

  it('does not take a run whose owner is alive and holds its lease (shared store)', async () => {
    // Prepare
    const clock = new ManualClock();
    const wf = workflow('resume-leased', {
      StartAt: 'Pause',
      States: { Pause: { Type: 'Wait', Seconds: 5, End: true } },
    });
    const owner = orchestrator([wf], { clock });
    const id = await created(wf.name);
    owner.start(wf.name, id, {});
    await clock.waitForSleeps(1);

    // Act
    const other = orchestrator([wf], { clock });
    const taken = await other.resumeOrphans({ exclusive: false });
    clock.advance(5_000);
    await owner.drain();

    // Assess
    expect(taken).not.toContain(id);
    expect((await store.getExecution(id))!.status).toBe('succeeded');
  });
});

describe('Redrive: a failed run restarts where it failed, over kept results', () => {
  it('re-runs only the failed Map iteration and calls no finished step again', async () => {
    // Prepare: five iterations; item c fails (no Retry), so the run fails
    const wf = workflow('redrive-map', {
      StartAt: 'Before',
      States: {
        Before: task(
          COUNT,
          { 'key.$': "States.Format('{}-before', $$.Execution.Name)" },
          { ResultPath: null, Next: 'Fan' },
        ),
        Fan: {
          Type: 'Map',
          ItemsPath: '$.items',
          // One at a time: a and b finish, c fails (the run fails), d and e never start.
          MaxConcurrency: 1,
          ItemProcessor: {
            StartAt: 'Item',
            States: {
              Item: task(
                FLAKY,
                { 'key.$': "States.Format('{}-{}', $$.Execution.Name, $$.Map.Item.Value)" },
                { End: true },
              ),
            },
          },
          End: true,
        },
      },
    });
    const o = orchestrator([wf]);
    const items = ['a', 'b', 'c', 'd', 'e'];
    const id = await created(wf.name, { items });
    failing.add(`${id}-c`);
    const first = await o.start(wf.name, id, { items }).done;
    const callsAfterFailure = items.map((i) => calls.get(`${id}-${i}`) ?? 0);

    // Act
    failing.delete(`${id}-c`);
    const redrive = await redriveExecution({ store, engine: localEngine(o) }, id);
    await o.drain();

    // Assess
    expect(first.status).toBe('failed');
    expect(redrive.execution.redriveCount).toBe(1);
    const row = (await store.getExecution(id))!;
    expect(row.error).toBeNull();
    expect(row.status).toBe('succeeded');
    expect(row.redriveCount).toBe(1);
    expect(calls.get(`${id}-before`)).toBe(1);
    const after = items.map((i) => calls.get(`${id}-${i}`) ?? 0);
    expect(callsAfterFailure).toEqual([1, 1, 1, 0, 0]);
    expect(after, 'a and b answer from the journal; c runs again; d and e run once').toEqual([1, 1, 2, 1, 1]);
    expect(row.output).toEqual(items.map((i) => ({ r: { ok: `${id}-${i}` } })));
    await expect(redriveExecution({ store, engine: localEngine(o) }, id)).rejects.toThrow(/succeeded/);
  });
});

describe('Callbacks: .waitForTaskToken', () => {
  const callbackWorkflow = (timeoutSeconds?: number) =>
    workflow(`callback-${timeoutSeconds ?? 'none'}`, {
      StartAt: 'Ask',
      States: {
        Ask: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
          Parameters: { FunctionName: TOKEN, Payload: { 'token.$': '$$.Task.Token' } },
          ...(timeoutSeconds ? { TimeoutSeconds: timeoutSeconds } : {}),
          Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.expired', Next: 'Expired' }],
          End: true,
        },
        Expired: { Type: 'Pass', End: true },
      },
    });

  it('resumes with SendTaskSuccess output, refuses a second answer, a forged token and garbage', async () => {
    // Prepare
    const wf = callbackWorkflow();
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    tokens.length = 0;
    const handle = o.start(wf.name, id, {});
    await expect.poll(() => tokens.length, { timeout: 20_000 }).toBe(1);
    const token = tokens[0]!;

    // Act
    await o.callbacks.sendTaskSuccess(token, { approved: true });
    const outcome = await handle.done;
    const second = await o.callbacks.sendTaskSuccess(token, { approved: false }).catch((e: Error) => e.name);
    const forged = await o.callbacks
      .sendTaskSuccess(`${token.split('.')[0]}.AAAAAAAAAAAAAAAAAAAAAA`, {})
      .catch((e: Error) => e.name);
    const garbage = await o.callbacks.sendTaskSuccess('not-a-token', {}).catch((e: Error) => e.name);

    // Assess
    expect(outcome).toMatchObject({ status: 'succeeded', output: { approved: true } });
    expect(second).toBe('TaskTimedOut');
    expect(forged).toBe('TaskDoesNotExist');
    expect(garbage).toBe('InvalidToken');
  });

  it('keeps waiting across a restart without invoking the resource again, then takes the answer', async () => {
    // Prepare
    const wf = callbackWorkflow();
    const first = orchestrator([wf]);
    const id = await created(wf.name);
    tokens.length = 0;
    const invokedBefore = calls.get('token') ?? 0;
    first.start(wf.name, id, {});
    await expect.poll(() => tokens.length, { timeout: 20_000 }).toBe(1);
    await expect
      .poll(
        async () => ((await store.readJournal(id))['s:Ask#1'] as { invoked?: boolean } | undefined)?.invoked,
        {
          timeout: 20_000,
        },
      )
      .toBe(true);

    // Act
    await first.detachAll();
    const second = orchestrator([wf]);
    await second.resumeOrphans({ exclusive: true });
    await second.callbacks.sendTaskFailure(tokens[0]!, 'Rejected', 'a person said no');
    await second.drain();

    // Assess
    expect(calls.get('token')! - invokedBefore, 'the resource ran once').toBe(1);
    const row = (await store.getExecution(id))!;
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'Rejected', cause: 'a person said no' });
  });

  it('fails an unanswered callback with States.Timeout, which the Catch routes', async () => {
    // Prepare
    const wf = callbackWorkflow(1);
    const o = orchestrator([wf]);
    const id = await created(wf.name);

    // Act
    const outcome = await o.start(wf.name, id, {}).done;

    // Assess
    expect(outcome).toMatchObject({ status: 'succeeded', output: { expired: { Error: 'States.Timeout' } } });
  });
});

describe('TimeoutSecondsPath', () => {
  it('times a Task out at the number its input names', async () => {
    // Prepare: the handler takes 2.5 s; the input allows 1 s
    const wf = workflow('timeout-path', {
      StartAt: 'Slow',
      States: { Slow: task(SLEEPY, { ms: 2_500 }, { TimeoutSecondsPath: '$.timeout', End: true }) },
    });
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    const t0 = Date.now();

    // Act
    const outcome = await o.start(wf.name, id, { timeout: 1 }).done;

    // Assess
    expect(outcome.error?.error).toBe('States.Timeout');
    expect(Date.now() - t0).toBeLessThan(2_500);
  });
});

describe('An interpreter failure ends the run', () => {
  it('fails (never hangs) when a state cannot copy an input too deep to walk', async () => {
    // Prepare
    const wf = workflow('deep', {
      StartAt: 'Copy',
      States: { Copy: { Type: 'Pass', Result: 1, ResultPath: '$.marker', End: true } },
    });
    const o = orchestrator([wf]);
    const id = await created(wf.name);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 200_000; i++) deep = [deep];

    // Act
    const outcome = await o.start(wf.name, id, { deep }).done;

    // Assess
    expect(outcome.status).toBe('failed');
    expect((await store.getExecution(id))!.status).toBe('failed');
  });
});
