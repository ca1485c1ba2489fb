import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { ACTIVITIES } from '../../infra/activities.ts';
import type { InterpreterClock } from '../../infra/local/engine/interpreter/interpreter.ts';
import { type LambdaHandler, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * A restart resuming many runs at once (LocalOrchestrator.resume, batched): runs let go of in a Wait and runs
 * cut off with a Task in flight (its model-call hold taken, its step row running) are taken over together with
 * a fixed number of store calls, and each ends as it would have without the stop: finished steps answer from
 * their records, the in-flight Task runs again as its next attempt after its hold became unconfirmed spend
 * (charged once), and the Wait keeps its deadline.
 */

const activity = ACTIVITIES[0]!;
const COUNT = localFunctionArn('count');
const HANG = localFunctionArn('hang');

let store: Store;
let closeStore: () => Promise<void>;
const calls = new Map<string, number>();
const bump = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);
/** The first attempt of Hang holds its call open until this opens (as a model call does until a kill). */
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});

const HOLD_MICROS = 30_000;
const handlers: Record<string, LambdaHandler> = {
  [COUNT]: async (event) => {
    const key = String((event as { key?: unknown }).key);
    bump(key);
    return { n: calls.get(key) };
  },
  [HANG]: async (event) => {
    const { id, attempt, entered } = event as { id: string; attempt: number; entered: string };
    bump(`${id}-hang`);
    if (attempt > 0) return { attempt };
    // What a model call does before it is sent: its step row, its hold against the budget.
    const step = await store.beginStep({
      executionId: id,
      stateName: 'Hang',
      activity: 'llm-invoke',
      enteredAt: entered,
      attempt,
    });
    await store.reserveBudgets(id, [
      {
        key: `${id}/hang@${attempt}`,
        amountMicros: HOLD_MICROS,
        kind: 'llm',
        stepId: step.id,
        stateName: 'Hang',
      },
      { key: `${id}/hang@${attempt}/tr`, amountMicros: 25, kind: 'transition' },
    ]);
    await gate;
    return { attempt };
  },
};

const task = (fn: string, payload: object, extra: object) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn, Payload: payload },
  ResultSelector: { 'r.$': '$.Payload' },
  ...extra,
});

const workflow = (name: string, definition: object): Workflow => ({
  name,
  description: name,
  file: `${name}.asl.json`,
  definition: definition as never,
  variables: [],
});

const waiting = workflow('batch-wait', {
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
const inFlight = workflow('batch-hang', {
  StartAt: 'One',
  States: {
    One: task(
      COUNT,
      { 'key.$': "States.Format('{}-one', $$.Execution.Name)" },
      { ResultPath: '$.one', Next: 'Hang' },
    ),
    Hang: task(
      HANG,
      {
        'id.$': '$$.Execution.Name',
        'attempt.$': '$$.State.RetryCount',
        'entered.$': '$$.State.EnteredTime',
      },
      { ResultPath: '$.hang', End: true },
    ),
  },
});

/** A clock the test moves: sleeps resolve when `advance` passes their end. */
class ManualClock implements InterpreterClock {
  t = Date.parse('2026-01-01T00:00:00Z');
  readonly sleeps: { until: number; resolve: () => void; requested: number }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.sleeps.push({ until: this.t + ms, resolve, requested: ms });
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  advance(ms: number): void {
    this.t += ms;
    for (const s of this.sleeps.filter((x) => x.until <= this.t)) s.resolve();
  }
}

/** The store, counting the calls made through it by method. */
function counting(inner: Store): { store: Store; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const store = new Proxy(inner, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.set(String(key), (counts.get(String(key)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, counts };
}

function orchestrator(over: Store, clock: InterpreterClock) {
  return new LocalOrchestrator({
    workflows: new Map([waiting, inFlight].map((w) => [w.name, w])),
    functions: new Map(Object.entries(handlers).map(([arn, handler]) => [arn, { activity, handler }])),
    store: over,
    retryIntervalScale: 1,
    clock,
  });
}

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
}, 120_000);
afterAll(async () => {
  await closeStore();
});

describe('Resume in batches: many runs left running, in a Wait and with a Task in flight', () => {
  it('takes them over with a fixed number of store calls and each ends as without the stop, charged once', async () => {
    // Prepare: 4 runs in a 60 s Wait (20 s of it gone) and 4 with Hang's model call in flight, then let go of
    const clock = new ManualClock();
    const first = orchestrator(store, clock);
    const ids = { waiting: [] as string[], inFlight: [] as string[] };
    for (const [wf, list] of [
      [waiting, ids.waiting],
      [inFlight, ids.inFlight],
    ] as const) {
      for (let i = 0; i < 4; i++) {
        const id = `${wf.name}-${i}-${Math.random().toString(36).slice(2, 8)}`;
        await store.createExecution({
          id,
          workflow: wf.name,
          input: {},
          budgetMicros: 1_000_000,
          running: true,
        });
        first.start(wf.name, id, {});
        list.push(id);
      }
    }
    await expect.poll(() => clock.sleeps.length, { timeout: 30_000 }).toBe(4);
    await expect
      .poll(
        async () =>
          (await Promise.all(ids.inFlight.map((id) => store.listHeldReservations(id)))).flat().length,
        {
          timeout: 30_000,
        },
      )
      .toBe(8);
    clock.advance(20_000);
    const detached = first.detachAll();
    openGate();
    await detached;

    // Act: the next process resumes every run left, counting what it asks of the store
    const { store: counted, counts } = counting(store);
    const second = orchestrator(counted, clock);
    const resumed = await second.resumeOrphans({ exclusive: true, batch: 128 });
    const resumeCalls = new Map(counts);
    await expect.poll(() => clock.sleeps.length, { timeout: 30_000 }).toBe(8);
    const remaining = clock.sleeps.slice(4).map((s) => s.requested);
    clock.advance(40_000);
    await second.drain();

    // Assess: the take-over's store calls, whatever the number of runs
    expect(resumed.sort()).toEqual([...ids.waiting, ...ids.inFlight].sort());
    expect(Object.fromEntries(resumeCalls)).toEqual({
      listUnowned: 1,
      claimExecutions: 1,
      settleInterruptedRuns: 1,
      readJournals: 1,
      writeJournals: 1,
    });
    for (const perRun of [
      'claimExecution',
      'readJournal',
      'releaseHeld',
      'recordUnconfirmed',
      'appendEvents',
    ]) {
      expect(counts.get(perRun) ?? 0, `${perRun} is not called per resumed run`).toBe(0);
    }
    // ... and each run's end
    expect(remaining, 'each Wait keeps its deadline: 40 s were left of 60').toEqual([
      40_000, 40_000, 40_000, 40_000,
    ]);
    for (const id of ids.waiting) {
      const row = (await store.getExecution(id))!;
      expect(row.status).toBe('succeeded');
      expect(calls.get(`${id}-one`), 'One finished before the stop and is answered from its record').toBe(1);
      expect(calls.get(`${id}-two`)).toBe(1);
    }
    for (const id of ids.inFlight) {
      const row = (await store.getExecution(id))!;
      expect(row.status).toBe('succeeded');
      expect(row.output).toMatchObject({ hang: { r: { attempt: 1 } } });
      expect(calls.get(`${id}-one`)).toBe(1);
      expect(calls.get(`${id}-hang`), 'the in-flight Task runs again, once, as its next attempt').toBe(2);
      expect(row.reservedMicros).toBe(0);
      const costs = await store.listCosts(id);
      expect(
        costs.filter((c) => c.kind === 'llm').map((c) => ({ usd: c.usdMicros, confirmed: c.confirmed })),
        'the cut-off call is charged once, at its hold, as unconfirmed spend',
      ).toEqual([{ usd: HOLD_MICROS, confirmed: false }]);
      expect(row.costMicros, 'the totals are the ledger').toBe(
        costs.reduce((sum, c) => sum + c.usdMicros, 0),
      );
      expect(await store.listHeldReservations(id)).toEqual([]);
      const steps = await store.listSteps(id);
      expect(
        steps.map((s) => [s.stateName, s.status, (s.error as { error?: string } | null)?.error]),
      ).toEqual([['Hang', 'failed', 'wflo.Interrupted']]);
      const events = (await store.listEvents(id, 0, 200)).map((e) => e.type);
      expect(events.filter((t) => t === 'execution.resumed')).toHaveLength(1);
    }
  });
});
