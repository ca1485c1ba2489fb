import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, EVENTS, type EventType } from '#shared/events/catalogue';
import { EXECUTION_STATUSES, type Store } from '#shared/ports/store';
import { openTestStore } from '../helpers/database.ts';

let store: Store;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ store, close } = await openTestStore());
});
afterAll(async () => {
  await close();
});

/** Every event row the store holds for these executions, by type. */
async function typesWritten(ids: readonly string[]): Promise<Set<string>> {
  const types = new Set<string>();
  for (const id of ids) for (const e of await store.listEvents(id, 0, 1000)) types.add(e.type);
  return types;
}

describe('event catalogue', () => {
  it('declares every type the store writes on each of its paths', async () => {
    // Prepare: one run over every statement that writes an outbox row.
    const ids: string[] = [];
    await store.createExecution({ id: 'cat-pending', workflow: 'w', input: {} });
    await store.markRunning('cat-pending');
    await store.createExecution({
      id: 'cat-run',
      workflow: 'w',
      input: {},
      running: true,
      budgetMicros: 100,
    });
    ids.push('cat-pending', 'cat-run');
    const at = '2026-11-29T10:00:00.000Z';
    const first = await store.beginStep({
      executionId: 'cat-run',
      stateName: 'A',
      activity: 'x',
      enteredAt: at,
      attempt: 0,
    });
    await store.completeStep({ stepId: first.id, status: 'failed', durationMs: 1, error: { error: 'E' } });
    const retry = await store.beginStep({
      executionId: 'cat-run',
      stateName: 'A',
      activity: 'x',
      enteredAt: at,
      attempt: 1,
    });
    await store.completeStep({ stepId: retry.id, status: 'succeeded', durationMs: 1, computeMicros: 1 });
    await store.recordCost({ executionId: 'cat-run', kind: 'llm', usdMicros: 60 });
    for (const status of EXECUTION_STATUSES) {
      const id = `cat-end-${status}`;
      await store.createExecution({ id, workflow: 'w', input: {} });
      await store.finishExecution({ id, status });
      ids.push(id);
    }

    // Act
    const written = await typesWritten(ids);

    // Assess: the store wrote each of its own types, and nothing outside the catalogue.
    const fromSql: EventType[] = [
      EVENTS.executionCreated,
      EVENTS.executionStarted,
      EVENTS.stepStarted,
      EVENTS.stepRetrying,
      EVENTS.stepSucceeded,
      EVENTS.stepFailed,
      EVENTS.costRecorded,
      EVENTS.budgetWarning,
      ...EXECUTION_STATUSES.map((s) => `execution.${s}` as const),
    ];
    expect([...written].sort()).toEqual([...new Set(fromSql)].sort());
    expect([...written].filter((t) => !EVENT_TYPES.includes(t as EventType))).toEqual([]);
  });

  it('lists each type once', () => {
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
  });
});
