import { describe, expect, it } from 'vitest';
import { useTestStore } from '../helpers/store-fixture.ts';

const db = useTestStore('holds');

describe('Store: several holds in one call (reserveBudgets)', () => {
  it('takes all of them or none: a set whose sum does not fit holds nothing', async () => {
    // Prepare
    const id = await db.execution(1000);

    // Act
    const refused = await db.store.reserveBudgets(id, [
      { key: `${id}/t`, kind: 'transition', amountMicros: 600 },
      { key: `${id}/c`, kind: 'lambda', amountMicros: 401 },
    ]);
    const taken = await db.store.reserveBudgets(id, [
      { key: `${id}/t`, kind: 'transition', amountMicros: 600 },
      { key: `${id}/c`, kind: 'lambda', amountMicros: 400, stepId: null, stateName: 'Ask' },
    ]);

    // Assess
    expect(refused).toEqual({
      ok: false,
      budgetMicros: 1000,
      costMicros: 0,
      reservedMicros: 0,
      overrunMicros: 0,
    });
    expect(taken).toEqual({ ok: true });
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(1000);
    expect(await db.store.listHeldReservations(id)).toEqual(
      expect.arrayContaining([
        { key: `${id}/t`, kind: 'transition' },
        { key: `${id}/c`, kind: 'lambda' },
      ]),
    );
  });

  it('counts a key already held as held (a retry), and takes a released key again', async () => {
    // Prepare: the state entry's transitions are held; an earlier attempt's compute hold was released.
    const id = await db.execution(1000);
    await db.store.reserveBudget({ key: `${id}/t`, executionId: id, kind: 'transition', amountMicros: 700 });
    await db.store.reserveBudget({ key: `${id}/c`, executionId: id, kind: 'lambda', amountMicros: 200 });
    await db.store.releaseBudget(`${id}/c`);

    // Act
    const again = await db.store.reserveBudgets(id, [
      { key: `${id}/t`, kind: 'transition', amountMicros: 700 },
      { key: `${id}/c`, kind: 'lambda', amountMicros: 300 },
    ]);
    const allHeld = await db.store.reserveBudgets(id, [{ key: `${id}/t`, amountMicros: 700 }]);

    // Assess: 700 + 300, not 700 twice.
    expect(again).toEqual({ ok: true });
    expect(allHeld).toEqual({ ok: true });
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(1000);
  });

  it('refuses a set with a settled key, and any set after an overrun', async () => {
    // Prepare
    const id = await db.execution(1_000_000);
    await db.store.reserveBudget({ key: `${id}/a`, executionId: id, amountMicros: 100 });
    await db.store.recordCost(
      { executionId: id, kind: 'llm', usdMicros: 100, idempotencyKey: `${id}/a/cost` },
      [],
      { reservationKey: `${id}/a` },
    );
    await db.store.reserveBudget({ key: `${id}/b`, executionId: id, amountMicros: 100 });

    // Act
    const settled = await db.store.reserveBudgets(id, [
      { key: `${id}/a`, amountMicros: 100 },
      { key: `${id}/x`, amountMicros: 1 },
    ]);
    await db.store.recordCost(
      { executionId: id, kind: 'llm', usdMicros: 500, idempotencyKey: `${id}/b/cost` },
      [],
      { reservationKey: `${id}/b` },
    );
    const afterOverrun = await db.store.reserveBudgets(id, [{ key: `${id}/y`, amountMicros: 1 }]);

    // Assess
    expect(settled).toMatchObject({ ok: false, costMicros: 100, reservedMicros: 100 });
    expect(afterOverrun).toMatchObject({ ok: false, overrunMicros: 400 });
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(0);
  });

  it('never lets concurrent sets overshoot the budget, alongside single holds', async () => {
    // Prepare: 40 pairs of 35 µ$ and 20 single holds of 70 µ$ race for a 1,000 µ$ budget.
    const id = await db.execution(1000);

    // Act
    const results = await Promise.all([
      ...Array.from({ length: 40 }, (_, i) =>
        db.store.reserveBudgets(id, [
          { key: `${id}/${i}/t`, kind: 'transition', amountMicros: 35 },
          { key: `${id}/${i}/c`, kind: 'lambda', amountMicros: 35 },
        ]),
      ),
      ...Array.from({ length: 20 }, (_, i) =>
        db.store.reserveBudget({ key: `${id}/s${i}`, executionId: id, amountMicros: 70 }),
      ),
    ]);

    // Assess: exactly floor(1000 / 70) = 14 fit, and each pair is held whole or not at all.
    expect(results.filter((r) => r.ok)).toHaveLength(14);
    expect((await db.store.getExecution(id))?.reservedMicros).toBe(980);
    const held = (await db.store.listHeldReservations(id)).map((h) => h.key);
    const singles = held.filter((k) => k.startsWith(`${id}/s`)).length;
    const pairs = Array.from(
      { length: 40 },
      (_, i) => held.filter((k) => k.startsWith(`${id}/${i}/`)).length,
    );
    expect(pairs.every((count) => count === 0 || count === 2)).toBe(true);
    expect(singles + pairs.filter((count) => count === 2).length).toBe(14);
  });

  it('refuses an unknown execution, a negative amount and a key given twice', async () => {
    const id = await db.execution(null);
    await expect(db.store.reserveBudgets('missing', [{ key: 'x', amountMicros: 1 }])).rejects.toThrow(
      /not found/,
    );
    await expect(db.store.reserveBudgets(id, [{ key: 'y', amountMicros: -1 }])).rejects.toThrow(RangeError);
    await expect(
      db.store.reserveBudgets(id, [
        { key: `${id}/k`, amountMicros: 1 },
        { key: `${id}/k`, amountMicros: 2 },
      ]),
    ).rejects.toThrow(RangeError);
  });

  // One key through either method: the two statements share their rules (store/budget.ts), so the same
  // situation gets the same answer and leaves the same amount held, whichever of them took it.
  const situations: {
    name: string;
    budget: number | null;
    amount: number;
    before?: (id: string, key: string) => Promise<void>;
    ok: boolean;
    reserved: number;
  }[] = [
    { name: 'fits exactly', budget: 1000, amount: 1000, ok: true, reserved: 1000 },
    { name: 'one micro-dollar too many', budget: 1000, amount: 1001, ok: false, reserved: 0 },
    { name: 'no budget', budget: null, amount: 10 ** 9, ok: true, reserved: 10 ** 9 },
    {
      name: 'the key already held (a retry)',
      budget: 1000,
      amount: 600,
      before: async (id, key) => {
        await db.store.reserveBudget({ key, executionId: id, amountMicros: 600 });
      },
      ok: true,
      reserved: 600,
    },
    {
      name: 'the key released (a resumed run)',
      budget: 1000,
      amount: 900,
      before: async (id, key) => {
        await db.store.reserveBudget({ key, executionId: id, amountMicros: 600 });
        await db.store.releaseBudget(key);
      },
      ok: true,
      reserved: 900,
    },
    {
      name: 'the key settled',
      budget: 1000,
      amount: 100,
      before: async (id, key) => {
        await db.store.reserveBudget({ key, executionId: id, amountMicros: 100 });
        await db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: 100 }, [], {
          reservationKey: key,
        });
      },
      ok: false,
      reserved: 0,
    },
    {
      name: 'after an overrun, with budget left',
      budget: 1_000_000,
      amount: 1,
      before: async (id) => {
        await db.store.reserveBudget({ key: `${id}/o`, executionId: id, amountMicros: 100 });
        await db.store.recordCost({ executionId: id, kind: 'llm', usdMicros: 300 }, [], {
          reservationKey: `${id}/o`,
        });
      },
      ok: false,
      reserved: 0,
    },
  ];

  it.each(situations)('answers one key as reserveBudget does: $name', async (situation) => {
    // Prepare: the same situation on two executions.
    const [one, set] = [await db.execution(situation.budget), await db.execution(situation.budget)];
    await situation.before?.(one, `${one}/k`);
    await situation.before?.(set, `${set}/k`);

    // Act
    const byOne = await db.store.reserveBudget({
      key: `${one}/k`,
      executionId: one,
      amountMicros: situation.amount,
    });
    const bySet = await db.store.reserveBudgets(set, [{ key: `${set}/k`, amountMicros: situation.amount }]);

    // Assess
    expect(byOne.ok).toBe(situation.ok);
    expect(bySet).toEqual(byOne);
    expect((await db.store.getExecution(one))?.reservedMicros).toBe(situation.reserved);
    expect((await db.store.getExecution(set))?.reservedMicros).toBe(situation.reserved);
  });
});
