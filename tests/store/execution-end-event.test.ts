import { describe, expect, it } from 'vitest';
import { useTestStore } from '../helpers/store-fixture.ts';

/*
 * Store: an execution's terminal event written after its last charge (finishExecution with endEvent: false,
 * then recordExecutionEnd), so the event carries the final total and is the run's last.
 */

const db = useTestStore('end');

async function running(): Promise<string> {
  const id = db.newId();
  await db.store.createExecution({ id, workflow: 'w', input: {} });
  await db.store.markRunning(id);
  return id;
}

describe('GIVEN an execution ended without its event', () => {
  it('WHEN a charge follows and its end is recorded THEN the terminal event is last and carries the total', async () => {
    // Prepare
    const id = await running();
    await db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: 70, idempotencyKey: `${id}/a` });
    const ended = await db.store.finishExecution(
      { id, status: 'succeeded', output: { ok: 1 } },
      { endEvent: false },
    );

    // Act
    await db.store.recordCost({
      executionId: id,
      kind: 'transition',
      usdMicros: 31,
      idempotencyKey: `${id}/t`,
    });
    const first = await db.store.recordExecutionEnd(id);
    const second = await db.store.recordExecutionEnd(id);

    // Assess
    expect(ended.changed).toBe(true);
    expect(ended.execution?.status).toBe('succeeded');
    expect([first, second]).toEqual([true, false]);
    const events = await db.store.listEvents(id, 0, 100);
    const last = events.at(-1)!;
    expect(last.type).toBe('execution.succeeded');
    expect(last.payload).toEqual({ executionId: id, workflow: 'w', status: 'succeeded', costMicros: 101 });
    expect(events.filter((e) => e.type === 'execution.succeeded')).toHaveLength(1);
  });

  it('WHEN the execution has not ended THEN no terminal event is written', async () => {
    const id = await running();

    const written = await db.store.recordExecutionEnd(id);

    expect(written).toBe(false);
    expect((await db.store.listEvents(id, 0, 100)).map((e) => e.type)).toEqual([
      'execution.created',
      'execution.started',
    ]);
  });

  it('WHEN it ended with its event already (the default) THEN recording the end writes nothing more', async () => {
    const id = await running();
    await db.store.finishExecution({ id, status: 'failed', error: { error: 'E', cause: 'c' } });

    const written = await db.store.recordExecutionEnd(id);

    expect(written).toBe(false);
    const types = (await db.store.listEvents(id, 0, 100)).map((e) => e.type);
    expect(types.filter((t) => t === 'execution.failed')).toHaveLength(1);
  });

  it('WHEN five deliveries of the same end race THEN exactly one terminal event is written', async () => {
    // Prepare
    const id = await running();
    await db.store.finishExecution({ id, status: 'succeeded', output: {} }, { endEvent: false });

    // Act
    const written = await Promise.all(Array.from({ length: 5 }, () => db.store.recordExecutionEnd(id)));

    // Assess
    expect(written.filter(Boolean)).toHaveLength(1);
    const types = (await db.store.listEvents(id, 0, 100)).map((e) => e.type);
    expect(types.filter((t) => t === 'execution.succeeded')).toHaveLength(1);
  });

  it('WHEN a failed run is redriven and ends again THEN its new end gets its own terminal event', async () => {
    // Prepare
    const id = await running();
    await db.store.finishExecution({ id, status: 'failed', error: { error: 'E', cause: 'c' } });
    await db.store.redriveExecution(id, 0);
    await db.store.finishExecution({ id, status: 'succeeded', output: {} }, { endEvent: false });

    // Act
    const written = await db.store.recordExecutionEnd(id);

    // Assess
    expect(written).toBe(true);
    const types = (await db.store.listEvents(id, 0, 100)).map((e) => e.type);
    expect(types.at(-1)).toBe('execution.succeeded');
    expect(types.filter((t) => t === 'execution.failed')).toHaveLength(1);
  });
});
