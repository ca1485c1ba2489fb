import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb } from '#local/engine/db/client';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';
import { ACTIVITIES } from '../../infra/activities.ts';
import { type LambdaHandler, LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import { localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';

/*
 * A restart resuming many runs with a Task in flight (embedded PGlite store): the resumed Tasks must not move in
 * lockstep (every run's first statement, then every run's second, ..., all model calls sent together once the
 * last run has caught up, with the CPU idle while they all wait). The runs taken over first reach their calls
 * while later ones are still being taken over, so the waits overlap the rest of the work.
 */

const activity = ACTIVITIES[0]!;
const CALL = localFunctionArn('call');
const RUNS = 300;
/** Store statements a resumed Task makes before its call goes out (a model call's step row, hold, cache look-up...). */
const STATEMENTS_BEFORE_CALL = 8;

let store: Store;
let close: () => Promise<void>;
/** Order of events across all runs: a resumed Task entered, a resumed Task's call went out. */
let seq = 0;
const entered: number[] = [];
const sent: number[] = [];
let firstAttempts = 0;
/** Runs the resuming process has asked the store to claim, and that count as each resumed Task started. */
let claimed = 0;
const claimedAtEntry: number[] = [];
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});

const handlers: Record<string, LambdaHandler> = {
  [CALL]: async (event) => {
    const { id, attempt } = event as { id: string; attempt: number };
    if (attempt === 0) {
      // The first process's call, cut off by the stop.
      firstAttempts++;
      await gate;
      return { attempt };
    }
    entered.push(seq++);
    claimedAtEntry.push(claimed);
    for (let i = 0; i < STATEMENTS_BEFORE_CALL; i++) await store.getExecution(id);
    sent.push(seq++);
    return { attempt };
  },
};

const pipeline: Workflow = {
  name: 'resume-pipeline',
  description: 'resume-pipeline',
  file: 'resume-pipeline.asl.json',
  variables: [],
  definition: {
    StartAt: 'Call',
    States: {
      Call: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: CALL,
          Payload: { 'id.$': '$$.Execution.Name', 'attempt.$': '$$.State.RetryCount' },
        },
        ResultSelector: { 'r.$': '$.Payload' },
        End: true,
      },
    },
  } as never,
};

function orchestrator(over: Store = store): LocalOrchestrator {
  return new LocalOrchestrator({
    workflows: new Map([[pipeline.name, pipeline]]),
    functions: new Map([[CALL, { activity, handler: handlers[CALL]! }]]),
    store: over,
    retryIntervalScale: 1,
  });
}

beforeAll(async () => {
  // The embedded store on purpose: its one-statement-at-a-time queue is what made the runs move in lockstep.
  const conn = await openDb({ kind: 'pglite', dataDir: 'memory://' });
  store = createStore(conn);
  close = () => store.close();
}, 120_000);
afterAll(async () => {
  await close();
});

describe('Resuming many runs with a Task in flight', () => {
  it('starts the first resumed Tasks early and sends their calls before the last Task starts', async () => {
    // Prepare: RUNS runs, each with its Task's call in flight, let go of by their process
    const first = orchestrator();
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const id = `pipe-${i}-${Math.random().toString(36).slice(2, 8)}`;
      await store.createExecution({
        id,
        workflow: pipeline.name,
        input: {},
        budgetMicros: 1_000_000,
        running: true,
      });
      first.start(pipeline.name, id, {});
      ids.push(id);
    }
    await expect.poll(() => firstAttempts, { timeout: 60_000 }).toBe(RUNS);
    const detached = first.detachAll();
    openGate();
    await detached;

    // Act: the next process resumes them all
    const counted: Store = {
      ...store,
      claimExecutions: (query) => {
        claimed += query.runs.length;
        return store.claimExecutions(query);
      },
    };
    const second = orchestrator(counted);
    const resumed = await second.resumeOrphans({ exclusive: true });
    await second.drain();

    // Assess: a call went out before the last resumed Task had even started (in lockstep, every Task starts, then
    // all of them make their statements round by round, and every call goes out at the end)
    expect(resumed).toHaveLength(RUNS);
    expect(sent).toHaveLength(RUNS);
    expect(Math.min(...sent)).toBeLessThan(Math.max(...entered));
    // ... and the first Tasks started after a small part of the runs had been taken over, not a whole large batch
    expect(claimedAtEntry[0]).toBeLessThan(RUNS / 4);
    for (const id of ids) expect((await store.getExecution(id))?.status).toBe('succeeded');
  }, 120_000);
});
