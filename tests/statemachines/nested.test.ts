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
 * Nested workflows through the real local engine and store: `states:startExecution` (request-response), `.sync`
 * and `.sync:2` start an ordinary execution of the named workflow; a failed child fails the parent's Task with
 * States.TaskFailed; a parent resumed after its process let go re-attaches to the child it had started; a
 * cancelled parent stops its `.sync` child.
 * Shapes: https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html
 */

const activity = ACTIVITIES[0]!;
const COUNT = localFunctionArn('count');
const FLAKY = localFunctionArn('flaky');
const TOKEN = localFunctionArn('token');
const tokens = new Map<string, string>();
const calls = new Map<string, number>();
/** Keys the flaky handler fails for. */
const failing = new Set<string>();
class FlakyError extends Error {
  override name = 'FlakyError';
}
const handlers: Record<string, LambdaHandler> = {
  [TOKEN]: async (event) => {
    const e = event as { key: string; token: string };
    tokens.set(e.key, e.token);
    return {};
  },
  [FLAKY]: async (event) => {
    const key = String((event as { key?: unknown }).key);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    if (failing.has(key)) throw new FlakyError(`failing ${key}`);
    return { ok: key };
  },
  [COUNT]: async (event) => {
    const key = String((event as { key?: unknown }).key);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    return { key, n: calls.get(key) };
  },
};

let store: Store;
let closeStore: () => Promise<void>;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
}, 120_000);
afterAll(async () => {
  await closeStore();
});

const arn = (name: string) => `arn:aws:states:us-east-1:123456789012:stateMachine:${name}`;

function workflow(name: string, definition: object): Workflow {
  return {
    name,
    description: name,
    file: `${name}.asl.json`,
    definition: definition as never,
    variables: [],
  };
}

function orchestrator(workflows: Workflow[], options: { clock?: InterpreterClock } = {}) {
  return new LocalOrchestrator({
    workflows: new Map(workflows.map((w) => [w.name, w])),
    functions: new Map(Object.entries(handlers).map(([a, handler]) => [a, { activity, handler }])),
    store,
    retryIntervalScale: 0,
    ...options,
  });
}

async function run(o: LocalOrchestrator, name: string, input: object = {}) {
  const id = `${name}-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: name, input, running: true });
  const outcome = await o.start(name, id, input).done;
  return { id, outcome, row: (await store.getExecution(id))! };
}

const child = workflow('nested-child', {
  StartAt: 'Double',
  States: {
    Double: {
      Type: 'Pass',
      Parameters: { 'doubled.$': 'States.MathAdd($.n, $.n)' },
      End: true,
    },
  },
});
const failingChild = workflow('nested-failing-child', {
  StartAt: 'Boom',
  States: { Boom: { Type: 'Fail', Error: 'ChildError', Cause: 'the child gave up' } },
});
const parent = (name: string, resource: string, extra: object = {}) =>
  workflow(name, {
    StartAt: 'Nest',
    States: {
      Nest: {
        Type: 'Task',
        Resource: resource,
        Parameters: { StateMachineArn: arn('nested-child'), Input: { 'n.$': '$.n' } },
        End: true,
        ...extra,
      },
    },
  });

describe('states:startExecution runs a nested local execution', () => {
  it('.sync returns the child DescribeExecution with Output as a JSON string', async () => {
    // Prepare
    const p = parent('nested-sync', 'arn:aws:states:::states:startExecution.sync');
    const o = orchestrator([p, child]);

    // Act
    const { id, row } = await run(o, p.name, { n: 21 });

    // Assess
    expect(row.status).toBe('succeeded');
    const out = row.output as Record<string, unknown>;
    expect(out.Output).toBe('{"doubled":42}');
    expect(out.Input).toBe('{"n":21}');
    expect(out).toMatchObject({
      Status: 'SUCCEEDED',
      StateMachineArn: expect.stringMatching(/:stateMachine:nested-child$/),
      RedriveStatus: 'NOT_REDRIVABLE',
      OutputDetails: { Included: true },
    });
    const childRow = await store.getExecution(String(out.Name));
    expect(childRow, 'the child is an ordinary execution in the store').toMatchObject({
      workflow: 'nested-child',
      status: 'succeeded',
      output: { doubled: 42 },
    });
    expect(String(out.ExecutionArn)).toContain(`:execution:nested-child:${String(out.Name)}`);
    expect(String(out.Name)).not.toBe(id);
  });

  it('.sync:2 returns Output as JSON', async () => {
    // Prepare
    const p = parent('nested-sync2', 'arn:aws:states:::states:startExecution.sync:2');
    const o = orchestrator([p, child]);

    // Act
    const { row } = await run(o, p.name, { n: 2 });

    // Assess
    expect(row.status).toBe('succeeded');
    expect(row.output).toMatchObject({ Output: { doubled: 4 }, Input: { n: 2 }, Status: 'SUCCEEDED' });
  });

  it('request-response returns ExecutionArn and StartDate, and the child runs on', async () => {
    // Prepare
    const p = parent('nested-fire', 'arn:aws:states:::states:startExecution', {
      Parameters: { StateMachineArn: arn('nested-child'), Input: '{"n":5}', Name: 'fire-and-forget-1' },
    });
    const o = orchestrator([p, child]);

    // Act
    const { row } = await run(o, p.name);
    await o.drain();

    // Assess
    expect(row.status).toBe('succeeded');
    const out = row.output as { ExecutionArn: string; StartDate: number };
    expect(Object.keys(out).sort()).toEqual(['ExecutionArn', 'StartDate']);
    expect(out.ExecutionArn).toMatch(/:execution:nested-child:fire-and-forget-1$/);
    expect(typeof out.StartDate).toBe('number');
    expect(await store.getExecution('fire-and-forget-1')).toMatchObject({
      status: 'succeeded',
      input: { n: 5 },
      output: { doubled: 10 },
    });
  });

  it('a failed child fails the .sync Task with States.TaskFailed, which the parent catches', async () => {
    // Prepare
    const p = workflow('nested-catch', {
      StartAt: 'Nest',
      States: {
        Nest: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync',
          Parameters: { StateMachineArn: arn('nested-failing-child'), Input: {} },
          Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.caught', Next: 'Handled' }],
          End: true,
        },
        Handled: { Type: 'Pass', End: true },
      },
    });
    const o = orchestrator([p, failingChild]);

    // Act
    const { row } = await run(o, p.name);

    // Assess
    expect(row.status).toBe('succeeded');
    const caught = (row.output as { caught: { Error: string; Cause: string } }).caught;
    expect(caught.Error).toBe('States.TaskFailed');
    expect(JSON.parse(caught.Cause)).toMatchObject({
      Status: 'FAILED',
      Error: 'ChildError',
      Cause: 'the child gave up',
      StateMachineArn: expect.stringMatching(/:stateMachine:nested-failing-child$/),
    });
  });

  it('refuses at load a literal StateMachineArn naming no workflow; a path-given one fails the Task', async () => {
    // Prepare
    const literal = workflow('nested-missing', {
      StartAt: 'Nest',
      States: {
        Nest: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync',
          Parameters: { StateMachineArn: arn('no-such-workflow') },
          End: true,
        },
      },
    });
    const dynamic = workflow('nested-dynamic', {
      StartAt: 'Nest',
      States: {
        Nest: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync',
          Parameters: { 'StateMachineArn.$': '$.target' },
          End: true,
        },
      },
    });

    // Act
    const refusal = (() => {
      try {
        orchestrator([literal]);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    })();
    const { row } = await run(orchestrator([dynamic]), dynamic.name, { target: arn('no-such-workflow') });

    // Assess
    expect(refusal).toContain('Nest (arn:aws:states:us-east-1:123456789012:stateMachine:no-such-workflow)');
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({
      error: 'StepFunctions.StateMachineDoesNotExistException',
      cause: expect.stringContaining(
        "State Machine Does Not Exist: 'arn:aws:states:us-east-1:123456789012:stateMachine:no-such-workflow'",
      ),
    });
  });
});

/** A clock the test moves: sleeps resolve when `advance` passes their end. */
class ManualClock implements InterpreterClock {
  t = Date.parse('2026-01-01T00:00:00Z');
  readonly sleeps: { until: number; resolve: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sleeps.push({ until: this.t + ms, resolve });
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

const slowChild = workflow('nested-slow-child', {
  StartAt: 'Pause',
  States: {
    Pause: { Type: 'Wait', Seconds: 60, Next: 'Count' },
    Count: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: COUNT, Payload: { 'key.$': '$.key' } },
      ResultSelector: { 'n.$': '$.Payload.n' },
      End: true,
    },
  },
});
const slowParent = workflow('nested-slow-parent', {
  StartAt: 'Nest',
  States: {
    Nest: {
      Type: 'Task',
      Resource: 'arn:aws:states:::states:startExecution.sync:2',
      Parameters: { StateMachineArn: arn('nested-slow-child'), Input: { 'key.$': '$$.Execution.Name' } },
      ResultSelector: { 'child.$': '$.Name', 'output.$': '$.Output' },
      End: true,
    },
  },
});

describe('durability of nested runs', () => {
  it('a parent resumed while its child runs re-attaches to that child instead of starting another', async () => {
    // Prepare: the child waits 60 s; the first process lets go of both 20 s in
    const clock = new ManualClock();
    const first = orchestrator([slowParent, slowChild], { clock });
    const id = `nested-resume-${Math.random().toString(36).slice(2)}`;
    await store.createExecution({ id, workflow: slowParent.name, input: {}, running: true });
    const handle = first.start(slowParent.name, id, {});
    await clock.waitForSleeps(1);
    clock.advance(20_000);
    const childrenBefore = (await store.listExecutions({ workflow: slowChild.name, limit: 100 })).items;

    // Act
    await first.detachAll();
    const second = orchestrator([slowParent, slowChild], { clock });
    const resumed = await second.resumeOrphans({ exclusive: true });
    await clock.waitForSleeps(2);
    clock.advance(40_000);
    await expect
      .poll(async () => (await store.getExecution(id))?.status, { timeout: 30_000 })
      .toBe('succeeded');
    await second.drain();

    // Assess
    expect((await handle.done).status).toBe('running');
    expect(resumed).toEqual(expect.arrayContaining([id]));
    const children = (await store.listExecutions({ workflow: slowChild.name, limit: 100 })).items;
    const mine = children.filter((c) => (c.input as { key?: string }).key === id);
    expect(mine, 'one child, started before the handover and resumed after it').toHaveLength(1);
    expect(childrenBefore.filter((c) => (c.input as { key?: string }).key === id)).toHaveLength(1);
    expect(calls.get(id), 'the child task ran once').toBe(1);
    const parentRow = (await store.getExecution(id))!;
    expect(parentRow.output).toEqual({ child: mine[0]!.id, output: { n: 1 } });
  });

  it('cancelling the parent stops its .sync child', async () => {
    // Prepare
    const clock = new ManualClock();
    const o = orchestrator([slowParent, slowChild], { clock });
    const id = `nested-cancel-${Math.random().toString(36).slice(2)}`;
    await store.createExecution({ id, workflow: slowParent.name, input: {}, running: true });
    const handle = o.start(slowParent.name, id, {});
    await clock.waitForSleeps(1);

    // Act
    o.cancel(id);
    const outcome = await handle.done;
    await o.drain();

    // Assess
    expect(outcome.status).toBe('cancelled');
    const children = (await store.listExecutions({ workflow: slowChild.name, limit: 100 })).items.filter(
      (c) => (c.input as { key?: string }).key === id,
    );
    expect(children).toHaveLength(1);
    expect(children[0]!.status).toBe('cancelled');
    expect(calls.get(id)).toBeUndefined();
  });
});

describe('redrive of a parent whose .sync child failed', () => {
  it('starts a new child instead of re-attaching to the failed one', async () => {
    // Prepare: the child fails while its key is failing; the parent has no Catch, so it fails too
    const flakyChild = workflow('nested-flaky-child', {
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: FLAKY, Payload: { 'key.$': '$.key' } },
          ResultSelector: { 'ok.$': '$.Payload.ok' },
          End: true,
        },
      },
    });
    const p = workflow('nested-redrive-parent', {
      StartAt: 'Nest',
      States: {
        Nest: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.sync:2',
          Parameters: { StateMachineArn: arn('nested-flaky-child'), Input: { 'key.$': '$$.Execution.Name' } },
          ResultSelector: { 'output.$': '$.Output' },
          End: true,
        },
      },
    });
    const o = orchestrator([p, flakyChild]);
    const id = `nested-redrive-${Math.random().toString(36).slice(2)}`;
    failing.add(id);
    await store.createExecution({ id, workflow: p.name, input: {}, running: true });
    const first = await o.start(p.name, id, {}).done;

    // Act
    failing.delete(id);
    await redriveExecution({ store, engine: localEngine(o) }, id);
    await o.drain();

    // Assess
    expect(first.status).toBe('failed');
    const row = (await store.getExecution(id))!;
    expect(row.status).toBe('succeeded');
    expect(row.output).toEqual({ output: { ok: id } });
    const children = (await store.listExecutions({ workflow: flakyChild.name, limit: 100 })).items.filter(
      (c) => (c.input as { key?: string }).key === id,
    );
    expect(children.map((c) => c.status).sort()).toEqual(['failed', 'succeeded']);
  });
});

describe('startExecution.waitForTaskToken', () => {
  it('starts the child with the token in its input and waits for SendTaskSuccess', async () => {
    // Prepare: the child hands the token to a function, as a worker would
    const tokenChild = workflow('nested-token-child', {
      StartAt: 'Hand',
      States: {
        Hand: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: TOKEN, Payload: { 'key.$': '$.key', 'token.$': '$.token' } },
          End: true,
        },
      },
    });
    const p = workflow('nested-token-parent', {
      StartAt: 'Nest',
      States: {
        Nest: {
          Type: 'Task',
          Resource: 'arn:aws:states:::states:startExecution.waitForTaskToken',
          Parameters: {
            StateMachineArn: arn('nested-token-child'),
            Input: { 'key.$': '$$.Execution.Name', 'token.$': '$$.Task.Token' },
          },
          End: true,
        },
      },
    });
    const o = orchestrator([p, tokenChild]);
    const id = `nested-token-${Math.random().toString(36).slice(2)}`;
    await store.createExecution({ id, workflow: p.name, input: {}, running: true });
    const handle = o.start(p.name, id, {});

    // Act
    await expect.poll(() => tokens.get(id), { timeout: 20_000 }).toBeTypeOf('string');
    await o.sendTaskSuccess(tokens.get(id)!, { answer: 42 });
    const outcome = await handle.done;

    // Assess
    expect(outcome).toMatchObject({ status: 'succeeded', output: { answer: 42 } });
  });
});
