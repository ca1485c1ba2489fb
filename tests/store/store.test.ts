import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#shared/errors';
import { useTestStore } from '../helpers/store-fixture.ts';

const db = useTestStore('exec');

const entry = (
  executionId: string,
  stateName = 'Plan',
  attempt = 0,
  enteredAt = '2026-11-21T10:00:00.000Z',
) => ({
  executionId,
  stateName,
  activity: 'llm-invoke',
  enteredAt,
  attempt,
});

describe('Store (the port every adapter implements)', () => {
  it('creates an execution once per idempotency key and returns the same one after', async () => {
    const a = await db.store.createExecution({
      id: db.newId(),
      workflow: 'w',
      input: { a: 1, b: [1, 2] },
      idempotencyKey: 'k1',
    });
    const b = await db.store.createExecution({
      id: db.newId(),
      workflow: 'w',
      input: { b: [1, 2], a: 1 },
      idempotencyKey: 'k1',
    });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.execution.id).toBe(a.execution.id);
  });

  it('refuses the same key with another input or budget, and the same id twice', async () => {
    const id = db.newId();
    await db.store.createExecution({
      id,
      workflow: 'w',
      input: { a: 1 },
      idempotencyKey: 'k2',
      budgetMicros: 5,
    });
    await expect(
      db.store.createExecution({
        id: db.newId(),
        workflow: 'w',
        input: { a: 2 },
        idempotencyKey: 'k2',
        budgetMicros: 5,
      }),
    ).rejects.toThrow(ConflictError);
    await expect(
      db.store.createExecution({
        id: db.newId(),
        workflow: 'w',
        input: { a: 1 },
        idempotencyKey: 'k2',
        budgetMicros: 6,
      }),
    ).rejects.toThrow(ConflictError);
    await expect(db.store.createExecution({ id, workflow: 'w', input: {} })).rejects.toThrow(ConflictError);
  });

  it('scopes idempotency keys per workflow', async () => {
    const a = await db.store.createExecution({
      id: db.newId(),
      workflow: 'w1',
      input: {},
      idempotencyKey: 'shared',
    });
    const b = await db.store.createExecution({
      id: db.newId(),
      workflow: 'w2',
      input: {},
      idempotencyKey: 'shared',
    });
    expect(b.created).toBe(true);
    expect(b.execution.id).not.toBe(a.execution.id);
  });

  it('records step attempts once each and keeps money exact beyond 32 bits', async () => {
    const id = db.newId();
    await db.store.createExecution({ id, workflow: 'w', input: {}, budgetMicros: 9_000_000_000 });
    const s1 = await db.store.beginStep(entry(id));
    const again = await db.store.beginStep(entry(id));
    const s2 = await db.store.beginStep(entry(id, 'Plan', 1));
    expect(again.id).toBe(s1.id);
    expect(s2.id).not.toBe(s1.id);
    await db.store.recordCost({
      executionId: id,
      stepId: s2.id,
      kind: 'llm',
      usdMicros: 4_000_000_001,
      idempotencyKey: `${id}/c1`,
    });
    const repeat = await db.store.recordCost({
      executionId: id,
      stepId: s2.id,
      kind: 'llm',
      usdMicros: 4_000_000_001,
      idempotencyKey: `${id}/c1`,
    });
    await db.store.recordCost({ executionId: id, kind: 'transition', usdMicros: 25 });
    const row = await db.store.getExecution(id);
    expect(repeat.created).toBe(false);
    expect(row?.costMicros).toBe(4_000_000_026);
    expect(row?.budgetMicros).toBe(9_000_000_000);
    expect((await db.store.listSteps(id)).find((s) => s.id === s2.id)?.costMicros).toBe(4_000_000_001);
    const costs = await db.store.listCosts(id);
    expect(costs.reduce((s, c) => s + c.usdMicros, 0)).toBe(row?.costMicros);
  });

  it('refuses a negative charge and leaves the totals untouched', async () => {
    const id = db.newId();
    await db.store.createExecution({ id, workflow: 'w', input: {} });
    await expect(db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: -1 })).rejects.toThrow();
    expect((await db.store.getExecution(id))?.costMicros).toBe(0);
    expect(await db.store.listCosts(id)).toEqual([]);
  });

  it('refuses a charge for an unknown execution and writes nothing', async () => {
    await expect(
      db.store.recordCost({ executionId: 'missing', kind: 'llm', usdMicros: 1 }),
    ).rejects.toThrow();
  });

  it('finishes an execution once; a later finish changes nothing', async () => {
    const id = db.newId();
    await db.store.createExecution({ id, workflow: 'w', input: {} });
    await db.store.markRunning(id);
    const first = await db.store.finishExecution({
      id,
      status: 'budget_exceeded',
      error: { error: 'BudgetExceededError', cause: 'x' },
    });
    const second = await db.store.finishExecution({
      id,
      status: 'failed',
      error: { error: 'States.Runtime', cause: 'y' },
    });
    expect(first.changed).toBe(true);
    expect(second.changed).toBe(false);
    expect(second.execution?.status).toBe('budget_exceeded');
    const types = (await db.store.listEvents(id, 0, 100)).map((e) => e.type);
    expect(types).toEqual(['execution.created', 'execution.started', 'execution.budget_exceeded']);
    await expect(db.store.finishExecution({ id: 'missing', status: 'failed' })).rejects.toThrow(
      NotFoundError,
    );
  });

  it('writes each state change and its event in one transaction, readable in order after a cursor', async () => {
    const id = db.newId();
    await db.store.createExecution({ id, workflow: 'w', input: {} });
    const step = await db.store.beginStep(entry(id));
    await db.store.completeStep({
      stepId: step.id,
      status: 'failed',
      durationMs: 5,
      error: { error: 'E', cause: 'c' },
    });
    const all = await db.store.listEvents(id, 0, 100);
    const after = await db.store.listEvents(id, all[0]!.id, 100);
    expect(all.map((e) => e.type)).toEqual(['execution.created', 'step.started', 'step.failed']);
    expect(after.map((e) => e.type)).toEqual(['step.started', 'step.failed']);
    expect(new Set(all.map((e) => e.eventId)).size).toBe(3);
  });

  it('discards an execution whose start failed, with its events, but never a finished one', async () => {
    const started = db.newId();
    const finished = db.newId();
    await db.store.createExecution({ id: started, workflow: 'w', input: {} });
    await db.store.markRunning(started);
    await db.store.createExecution({ id: finished, workflow: 'w', input: {} });
    await db.store.finishExecution({ id: finished, status: 'succeeded' });
    await db.store.discardExecution(started);
    await db.store.discardExecution(finished);
    expect(await db.store.getExecution(started)).toBeUndefined();
    expect(await db.store.listEvents(started, 0, 10)).toEqual([]);
    expect(await db.store.getExecution(finished)).toBeDefined();
  });

  it('lists newest first with a stable cursor and filters', async () => {
    const ids = [db.newId(), db.newId(), db.newId()];
    for (const id of ids) await db.store.createExecution({ id, workflow: 'paged', input: {} });
    const p1 = await db.store.listExecutions({ workflow: 'paged', limit: 2 });
    const p2 = await db.store.listExecutions({ workflow: 'paged', limit: 2, cursor: p1.nextCursor });
    expect([...p1.items, ...p2.items].map((e) => e.id)).toEqual([...ids].reverse());
    expect(p2.nextCursor).toBeUndefined();
    expect((await db.store.listExecutions({ workflow: 'paged', status: 'running', limit: 5 })).items).toEqual(
      [],
    );
    await expect(db.store.listExecutions({ limit: 1, cursor: 'garbage' })).rejects.toThrow(NotFoundError);
  });

  it('lists stale unfinished executions oldest first, a page at a time, and none created after the cutoff', async () => {
    // Prepare: two unfinished runs and one finished run before the cutoff, one unfinished run after it.
    const [pending, running, finished, fresh] = [db.newId(), db.newId(), db.newId(), db.newId()];
    for (const id of [pending, running, finished])
      await db.store.createExecution({ id, workflow: 'stale', input: {} });
    await db.store.markRunning(running);
    await db.store.finishExecution({ id: finished, status: 'succeeded' });
    await new Promise((r) => setTimeout(r, 5));
    const cutoff = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await db.store.createExecution({ id: fresh, workflow: 'stale', input: {} });

    // Act: page through everything stale (other tests' rows included) two rows at a time.
    const seen: { id: string; createdAt: Date; status: string }[] = [];
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const page = await db.store.listStaleExecutions({
        statuses: ['pending', 'running'],
        createdBefore: cutoff,
        limit: 2,
        after,
      });
      seen.push(...page);
      const last = page.at(-1);
      if (page.length < 2 || !last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }

    // Assess
    const ids = seen.map((r) => r.id);
    expect(ids.filter((id) => [pending, running, finished, fresh].includes(id))).toEqual([pending, running]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(seen.every((r) => r.createdAt < cutoff && ['pending', 'running'].includes(r.status))).toBe(true);
    const times = seen.map((r) => r.createdAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(await db.store.listStaleExecutions({ statuses: [], createdBefore: cutoff, limit: 5 })).toEqual([]);
  });

  it('keeps concurrent charges to one execution consistent', async () => {
    const id = db.newId();
    await db.store.createExecution({ id, workflow: 'w', input: {} });
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: i + 1 }),
      ),
    );
    expect((await db.store.getExecution(id))?.costMicros).toBe((40 * 41) / 2);
  });
});
