import { and, eq, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { budgetReservations, executions, steps } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';
import type { Store } from '../ports/store.ts';
import { once, p } from './statements.ts';

/** The budget's part of the store: holds against an execution's budget and their release (one or all). */
export type BudgetMethods = Pick<Store, 'reserveBudget' | 'releaseBudget' | 'releaseHeld'>;

/** The reservation statements over one connection. */
export function budgetMethods(db: WfloDb): BudgetMethods {
  /** Holds an amount against the budget only if it fits, and records the hold under its key. */
  const reserveQuery = once(() => {
    const amount = sql`${p('amount')}::bigint`;
    const key = sql`${p('key')}::text`;
    const upd = db
      .$with('upd', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set reserved_micros = ${executions.reservedMicros} + ${amount} where ${executions.id} = ${p('executionId')} and (${executions.budgetMicros} is null or ${executions.costMicros} + ${executions.reservedMicros} + ${amount} <= ${executions.budgetMicros}) and not exists (select 1 from ${budgetReservations} where ${budgetReservations.key} = ${key}) returning ${executions.id} as id`,
      );
    const held = db
      .$with('held', { key: sql<string>`key`.as('key') })
      .as(
        sql`insert into ${budgetReservations} (key, execution_id, amount_micros) select ${key}, upd.id, ${amount} from ${upd} as upd returning key`,
      );
    return db.with(upd, held).select().from(upd).prepare('wflo_reserve_budget');
  });

  return {
    async reserveBudget({ key, executionId, amountMicros }) {
      if (!Number.isSafeInteger(amountMicros) || amountMicros < 0) {
        throw new RangeError('a reservation is a non-negative whole number of micro-dollars');
      }
      const [row] = await reserveQuery().execute({ key, executionId, amount: amountMicros });
      if (row) return { ok: true };
      const [existing] = await db.select().from(budgetReservations).where(eq(budgetReservations.key, key));
      if (existing?.status === 'reserved') return { ok: true };
      const [execution] = await db.select().from(executions).where(eq(executions.id, executionId));
      if (!execution) throw new NotFoundError(`execution ${executionId} not found`);
      return {
        ok: false,
        budgetMicros: execution.budgetMicros,
        costMicros: execution.costMicros,
        reservedMicros: execution.reservedMicros,
      };
    },

    async releaseHeld(executionId, error) {
      const released = await db
        .update(budgetReservations)
        .set({ status: 'released' })
        .where(
          and(eq(budgetReservations.executionId, executionId), eq(budgetReservations.status, 'reserved')),
        )
        .returning({ key: budgetReservations.key });
      await db.update(executions).set({ reservedMicros: 0 }).where(eq(executions.id, executionId));
      // A step cut off with its run: no result will come (a cancelled run records nothing more).
      const ended = await db
        .update(steps)
        .set({ status: 'failed', error, finishedAt: new Date() })
        .where(and(eq(steps.executionId, executionId), eq(steps.status, 'running')))
        .returning({ id: steps.id });
      return { reservations: released.length, steps: ended.length };
    },

    async releaseBudget(key) {
      const released = db
        .$with('released', {
          executionId: sql<string>`execution_id`.as('execution_id'),
          amount: sql<number>`amount_micros`.as('amount_micros'),
        })
        .as(
          sql`update ${budgetReservations} set status = 'released' where ${budgetReservations.key} = ${key} and ${budgetReservations.status} = 'reserved' returning execution_id, amount_micros`,
        );
      const back = db
        .$with('back', { id: sql<string>`id`.as('id') })
        .as(
          sql`update ${executions} set reserved_micros = greatest(0, ${executions.reservedMicros} - released.amount_micros) from ${released} as released where ${executions.id} = released.execution_id returning ${executions.id}`,
        );
      await db.with(released, back).select().from(released);
    },
  };
}
