import { describe, expect, it } from 'vitest';
import { useTestStore } from '../helpers/store-fixture.ts';

const db = useTestStore('budget');

describe('Store: budget reservations', () => {
  it('reserves while cost + reserved + amount fits, refuses the first that does not', async () => {
    // Prepare
    const id = await db.execution(1000);

    // Act
    const a = await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 600 });
    const b = await db.store.reserveBudget({ key: `${id}/b`, executionId: id, amountMicros: 401 });
    const c = await db.store.reserveBudget({ key: `${id}/c`, executionId: id, amountMicros: 400 });

    // Assess
    expect(a).toEqual({ ok: true });
    expect(b).toMatchObject({ ok: false, budgetMicros: 1000, costMicros: 0, reservedMicros: 600 });
    expect(c).toEqual({ ok: true });
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(1000);
  });

  it('is idempotent per key: reserving the same key twice holds the amount once', async () => {
    const id = await db.execution(1000);
    await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 700 });
    expect(await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 700 })).toEqual({
      ok: true,
    });
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(700);
  });

  it('settles with the actual cost: the reservation leaves reserved as the charge enters cost', async () => {
    // Prepare
    const id = await db.execution(1000);
    await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 600 });

    // Act
    await db.store.recordCost(
      { executionId: id, kind: 'llm', usdMicros: 250, idempotencyKey: `${id}/a/cost` },
      [],
      {
        reservationKey: `${id}/a`,
      },
    );

    // Assess
    const row = await db.store.getExecution(id);
    expect(row).toMatchObject({ costMicros: 250, reservedMicros: 0 });
    expect(await db.store.reserveBudget({ key: `${id}/b`, executionId: id, amountMicros: 750 })).toEqual({
      ok: true,
    });
  });

  it('releases a reservation once; a second release changes nothing', async () => {
    const id = await db.execution(1000);
    await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 600 });
    await db.store.reserveBudget({ key: `${id}/b`, executionId: id, amountMicros: 300 });
    await db.store.releaseBudget(`${id}/a`);
    await db.store.releaseBudget(`${id}/a`);
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(300);
  });

  it('never lets concurrent reservations overshoot the budget', async () => {
    // Prepare: 60 reservations of 70 µ$ race for a 1,000 µ$ budget.
    const id = await db.execution(1000);

    // Act
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        db.store.reserveBudget({ key: `${id}/${i}`, executionId: id, amountMicros: 70 }),
      ),
    );

    // Assess: exactly floor(1000 / 70) = 14 fit.
    expect(results.filter((r) => r.ok)).toHaveLength(14);
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(980);
  });

  it('reserves anything for an execution without a budget and refuses an unknown execution', async () => {
    const id = await db.execution(null);
    expect(await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 10 ** 12 })).toEqual(
      {
        ok: true,
      },
    );
    await expect(
      db.store.reserveBudget({ key: 'x', executionId: 'missing', amountMicros: 1 }),
    ).rejects.toThrow(/not found/);
    await expect(db.store.reserveBudget({ key: 'y', executionId: id, amountMicros: -1 })).rejects.toThrow(
      RangeError,
    );
  });

  it('emits budget.warning once at each of 50, 75 and 90 % as charges cross them', async () => {
    // Prepare
    const id = await db.execution(1000);

    // Act: 400 (40 %), 400 (80 %: crosses 50 and 75), 150 (95 %: crosses 90), 10 (96 %)
    for (const [i, usd] of [400, 400, 150, 10].entries()) {
      await db.store.recordCost({
        executionId: id,
        kind: 'llm',
        usdMicros: usd,
        idempotencyKey: `${id}/${i}`,
      });
    }

    // Assess
    const warnings = (await db.store.listEvents(id, 0, 100)).filter((e) => e.type === 'budget.warning');
    expect(warnings.map((w) => (w.payload as { thresholdPercent: number }).thresholdPercent)).toEqual([
      50, 75, 90,
    ]);
    expect(warnings[0]!.payload).toMatchObject({ costMicros: 800, budgetMicros: 1000 });
  });

  it('keeps an activity result with its charge, atomically, for a retried entry to find', async () => {
    const id = await db.execution(null);
    await db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: 5, idempotencyKey: `${id}/k` }, [], {
      result: { key: `${id}/Plan/t0`, value: { text: 'hello' } },
    });
    expect(await db.store.getActivityResult(`${id}/Plan/t0`)).toEqual({ text: 'hello' });
    expect(await db.store.getActivityResult(`${id}/Plan/t1`)).toBeUndefined();
  });

  it('charges the compute of a step attempt as a lambda ledger row when the step completes', async () => {
    const id = await db.execution(null);
    const step = await db.store.beginStep({
      executionId: id,
      stateName: 'Plan',
      activity: 'llm-invoke',
      enteredAt: new Date().toISOString(),
      attempt: 0,
    });
    await db.store.completeStep({ stepId: step.id, status: 'succeeded', durationMs: 120, computeMicros: 3 });
    const costs = await db.store.listCosts(id);
    expect(costs.map((c) => [c.kind, c.usdMicros, c.stepId])).toEqual([['lambda', 3, step.id]]);
    expect((await db.store.getExecution(id))?.costMicros).toBe(3);
    expect((await db.store.listSteps(id))[0]!.costMicros).toBe(3);
  });
});
