import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '#shared/errors';
import type { Store } from '#shared/ports/store';
import { ACTIVITIES } from '../../infra/activities.ts';
import type { InterpreterClock } from '../../infra/local/engine/interpreter/interpreter.ts';
import { type LambdaHandler, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * A run that has ended must say so in its row even when the store is away at that moment (a PostgreSQL
 * restart): the end write is retried until it lands. Dropping it left the run `running` for ever with its holds
 * held, because its live owner never looks at it again (seen in the chaos suite's pg-restart-load at load 25).
 */

const activity = ACTIVITIES[0]!;
const ECHO = localFunctionArn('echo');
const handlers: Record<string, LambdaHandler> = { [ECHO]: async (event) => ({ echoed: event }) };

const wf: Workflow = {
  name: 'end-write',
  description: 'end-write',
  file: 'end-write.asl.json',
  definition: {
    StartAt: 'Echo',
    States: {
      Echo: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: ECHO, Payload: { 'n.$': '$.n' } },
        ResultSelector: { 'r.$': '$.Payload' },
        End: true,
      },
    },
  } as never,
  variables: [],
};

let store: Store;
let closeStore: () => Promise<void>;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
}, 120_000);
afterAll(async () => {
  await closeStore();
});

/** The real store, except that finishExecution fails as a restarting server would while `outage` says so. */
function storeWithOutage(outage: () => boolean) {
  let attempts = 0;
  const faulty = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property !== 'finishExecution' || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        attempts++;
        if (outage()) {
          return Promise.reject(
            new StoreUnavailableError('store unavailable during finishExecution (57P03); retry', '57P03'),
          );
        }
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
  return { faulty, attempts: () => attempts };
}

/** Back-off sleeps return at once (recorded), so the test waits on no wall clock. */
function recordingClock(onSleep: (ms: number) => void): InterpreterClock {
  return {
    now: () => Date.now(),
    sleep: async (ms, signal) => {
      if (signal.aborted) throw signal.reason;
      onSleep(ms);
    },
  };
}

async function created(): Promise<string> {
  const id = `end-write-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow: wf.name, input: { n: 1 }, running: true });
  return id;
}

describe('the end of a run is written even when the store is away at that moment', () => {
  it('retries the end write through a store outage and records the run as it ended', async () => {
    // Prepare: the store refuses the end write 3 times
    let failures = 3;
    const { faulty, attempts } = storeWithOutage(() => failures-- > 0);
    const sleeps: number[] = [];
    const orchestrator = new LocalOrchestrator({
      workflows: new Map([[wf.name, wf]]),
      functions: new Map([[ECHO, { activity, handler: handlers[ECHO]! }]]),
      store: faulty,
      clock: recordingClock((ms) => sleeps.push(ms)),
    });
    const id = await created();

    // Act
    const outcome = await orchestrator.start(wf.name, id, { n: 1 }).done;
    await orchestrator.close();

    // Assess: the run ended succeeded, in its row too, after 3 back-offs and 4 attempts
    expect(outcome.status).toBe('succeeded');
    expect(attempts()).toBe(4);
    expect(sleeps).toEqual([100, 200, 400]);
    const row = await store.getExecution(id);
    expect(row?.status).toBe('succeeded');
    expect(await store.listHeldReservations(id)).toEqual([]);
  });

  it('leaves the run running for the next process when this one lets go during the outage', async () => {
    // Prepare: the store stays away; the process stops while the end write waits
    let detaching: Promise<number> | undefined;
    let orchestrator: LocalOrchestrator | undefined;
    const { faulty } = storeWithOutage(() => true);
    orchestrator = new LocalOrchestrator({
      workflows: new Map([[wf.name, wf]]),
      functions: new Map([[ECHO, { activity, handler: handlers[ECHO]! }]]),
      store: faulty,
      clock: recordingClock(() => {
        detaching ??= orchestrator?.detachAll();
      }),
    });
    const id = await created();

    // Act
    const outcome = await orchestrator.start(wf.name, id, { n: 1 }).done;
    await detaching;

    // Assess: not reported as ended, and the row is still running (its journal lets the next process finish it)
    expect(outcome.status).toBe('running');
    expect((await store.getExecution(id))?.status).toBe('running');
  });
});
