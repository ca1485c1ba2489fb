import { describe, expect, it } from 'vitest';
import type { EventRow, ExecutionRow, Store } from '#shared/ports/store';
import { createLocalMetrics } from '../../../infra/local/cli/metrics.ts';

/** The three store reads the metrics use, over rows the test changes between scrapes. */
function fakeStore(executions: ExecutionRow[], events: Map<string, EventRow[]>) {
  const reads = { listEvents: 0 };
  const store = {
    listExecutions: async () => ({
      items: [...executions].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()),
      nextCursor: undefined,
    }),
    getExecution: async (id: string) => executions.find((e) => e.id === id),
    listEvents: async (id: string, after: number, limit: number) => {
      reads.listEvents++;
      return (events.get(id) ?? []).filter((e) => e.id > after).slice(0, limit);
    },
  };
  // Only the reads above are called; the rest of the port is not needed here.
  return { store: store as unknown as Store, reads };
}

const T0 = new Date('2026-11-29T10:00:00Z');

function execution(
  id: string,
  status: ExecutionRow['status'],
  costMicros = 0,
  savedMicros = 0,
): ExecutionRow {
  return {
    id,
    workflow: 'agent-loop',
    status,
    input: {},
    output: null,
    error: null,
    budgetMicros: null,
    reservedMicros: 0,
    costMicros,
    savedMicros,
    idempotencyKey: null,
    createdAt: new Date(T0.getTime() + 1000),
    startedAt: null,
    finishedAt: null,
  } as ExecutionRow;
}

let nextEventId = 1;
const stepEvent = (durationMs: number): EventRow =>
  ({
    id: nextEventId++,
    eventId: `e${nextEventId}`,
    executionId: 'run-1',
    type: 'step.succeeded',
    payload: { activity: 'llm-invoke', durationMs },
    createdAt: T0,
  }) as EventRow;

const line = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));

describe('Function: createLocalMetrics', () => {
  it('follows a running execution: its steps as they finish, then its end once, with cost in dollars', async () => {
    // Prepare
    const rows = [execution('run-1', 'running')];
    const events = new Map([['run-1', [stepEvent(200)]]]);
    const { store } = fakeStore(rows, events);
    const metrics = createLocalMetrics({ store, runsInFlight: () => 1, maxRunsInFlight: 4, since: T0 });

    // Act
    const whileRunning = await metrics.render();
    events.get('run-1')!.push(stepEvent(3000));
    rows[0] = execution('run-1', 'succeeded', 1_234_567, 810);
    const afterEnd = await metrics.render();
    const later = await metrics.render();

    // Assess
    expect(line(whileRunning, 'wflo_executions_active{')).toBe(
      'wflo_executions_active{workflow="agent-loop",status="running"} 1',
    );
    expect(line(whileRunning, 'wflo_step_duration_seconds_count')).toMatch(/ 1$/);
    expect(line(afterEnd, 'wflo_step_duration_seconds_count')).toMatch(/ 2$/);
    expect(line(afterEnd, 'wflo_step_duration_seconds_sum')).toMatch(/ 3\.2$/);
    expect(line(afterEnd, 'wflo_executions_active{')).toBeUndefined();
    expect(line(afterEnd, 'wflo_executions_total{')).toBe(
      'wflo_executions_total{workflow="agent-loop",status="succeeded"} 1',
    );
    expect(line(afterEnd, 'wflo_execution_cost_dollars_total{')).toMatch(/ 1\.234567$/);
    expect(line(afterEnd, 'wflo_execution_saved_dollars_total{')).toMatch(/ 0\.00081$/);
    expect(line(later, 'wflo_executions_total{')).toMatch(/ 1$/);
    expect(line(later, 'wflo_step_duration_seconds_count')).toMatch(/ 2$/);
  });

  it('leaves out executions created before it started, and reads no events of finished ones again', async () => {
    // Prepare
    const old = { ...execution('old', 'succeeded'), createdAt: new Date(T0.getTime() - 1000) };
    const { store, reads } = fakeStore([old, execution('done', 'failed')], new Map());
    const metrics = createLocalMetrics({ store, runsInFlight: () => 0, maxRunsInFlight: 4, since: T0 });

    // Act
    const first = await metrics.render();
    const readsAfterFirst = reads.listEvents;
    await metrics.render();

    // Assess
    expect(first).toContain('wflo_executions_total{workflow="agent-loop",status="failed"} 1');
    expect(first).not.toContain('status="succeeded"');
    expect(readsAfterFirst).toBe(1);
    expect(reads.listEvents).toBe(1);
  });

  it("shows the sandbox's queue and running count when it reports them, and nothing when it does not", async () => {
    const { store } = fakeStore([], new Map());
    const sandbox = { queueLength: 3, running: 2 };
    const withQueue = createLocalMetrics({ store, runsInFlight: () => 5, maxRunsInFlight: 32, sandbox });
    const without = createLocalMetrics({ store, runsInFlight: () => 0, maxRunsInFlight: 32, sandbox: {} });

    const text = await withQueue.render();
    sandbox.queueLength = 0;
    const drained = await withQueue.render();

    expect(text).toContain('wflo_sandbox_queue_length 3');
    expect(text).toContain('wflo_sandbox_running 2');
    expect(text).toContain('wflo_runs_in_flight 5');
    expect(text).toContain('wflo_runs_in_flight_limit 32');
    expect(drained).toContain('wflo_sandbox_queue_length 0');
    expect(await without.render()).not.toContain('wflo_sandbox_');
  });
});
