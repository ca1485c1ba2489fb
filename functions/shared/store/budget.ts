import { and, eq, type SQL, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { budgetReservations, costEntries, events, executions, steps } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import type { BudgetHoldResult, Store } from '../ports/store.ts';
import { once, p } from './statements.ts';

/**
 * The budget's part of the store: holds against an execution's budget, their release (one or all), and
 * a hold turned into unconfirmed spend.
 */
export type BudgetMethods = Pick<
  Store,
  | 'reserveBudget'
  | 'reserveBudgets'
  | 'releaseBudget'
  | 'releaseHeld'
  | 'recordUnconfirmed'
  | 'listHeldReservations'
>;

/**
 * The rules every hold obeys, written once for both statements (one key, a set of keys): the execution
 * takes `amount` only if it fits on top of what it has spent and holds, and never after an overrun (a
 * charge above its worst case), whatever the budget left; a released hold is taken again under its key
 * with the new figures. Both statements check and take in the UPDATE of the execution row, so concurrent
 * holds are serialised by its row lock.
 */
const fits = (amount: SQL) =>
  sql`(${executions.budgetMicros} is null or (${executions.overrunMicros} = 0 and ${executions.costMicros} + ${executions.reservedMicros} + ${amount} <= ${executions.budgetMicros}))`;
const holdColumns = sql.raw('(key, execution_id, amount_micros, kind, step_id, state_name, provider, model)');
const takeAgain = sql.raw(
  "on conflict (key) do update set status = 'reserved', amount_micros = excluded.amount_micros, kind = excluded.kind, step_id = excluded.step_id, state_name = excluded.state_name, provider = excluded.provider, model = excluded.model",
);

/** The reservation statements over one connection. */
export function budgetMethods(db: WfloDb): BudgetMethods {
  /**
   * Holds an amount against the budget only if it fits, and records the hold under its key. A released hold
   * may be taken again under the same key (a step run again after its run was resumed).
   */
  const reserveQuery = once(() => {
    const amount = sql`${p('amount')}::bigint`;
    const key = sql`${p('key')}::text`;
    const upd = db
      .$with('upd', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set reserved_micros = ${executions.reservedMicros} + ${amount} where ${executions.id} = ${p('executionId')} and ${fits(amount)} and not exists (select 1 from ${budgetReservations} where ${budgetReservations.key} = ${key} and ${budgetReservations.status} <> 'released') returning ${executions.id} as id`,
      );
    const held = db
      .$with('held', { key: sql<string>`key`.as('key') })
      .as(
        sql`insert into ${budgetReservations} ${holdColumns} select ${key}, upd.id, ${amount}, ${p('kind')}::text, ${p('stepId')}::bigint, ${p('stateName')}::text, ${p('provider')}::text, ${p('model')}::text from ${upd} as upd ${takeAgain} returning key`,
      );
    return db.with(upd, held).select().from(upd).prepare('wflo_reserve_budget');
  });

  /**
   * Several holds of one execution in one statement, all or none (`reserveQuery` for a set): the keys not
   * yet held (absent or released) are summed and taken together only if the sum fits, under the same
   * conditions; a key still held adds nothing, a settled key fails the whole set. The budget check is in
   * the UPDATE of the execution row, so concurrent holds are serialised by its row lock as with one key.
   */
  const reserveManyQuery = once(() => {
    const req = db
      .$with('req', {
        key: sql<string>`key`.as('key'),
        status: sql<string | null>`status`.as('status'),
      })
      .as(
        // Each key's status by a scalar subquery (one primary-key probe per hold): as a join, the planner
        // guesses 100 rows for the recordset and hashes the whole reservations table instead.
        sql`select h.key, h.amount, h.kind, h.step_id, h.state_name, h.provider, h.model, (select b.status from ${budgetReservations} as b where b.key = h.key) as status from jsonb_to_recordset(${p('holds')}::jsonb) as h(key text, amount bigint, kind text, step_id bigint, state_name text, provider text, model text)`,
      );
    const need = db
      .$with('need', {
        fresh: sql<number>`fresh`.as('fresh'),
        blocked: sql<boolean>`blocked`.as('blocked'),
      })
      .as(
        sql`select count(*) filter (where status is null or status = 'released') as fresh, coalesce(sum(amount) filter (where status is null or status = 'released'), 0)::bigint as amount, coalesce(bool_or(status = 'settled'), false) as blocked from req`,
      );
    const upd = db
      .$with('upd', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set reserved_micros = ${executions.reservedMicros} + need.amount from need where ${executions.id} = ${p('executionId')} and need.fresh > 0 and not need.blocked and ${fits(sql`need.amount`)} returning ${executions.id} as id`,
      );
    const held = db
      .$with('held', { key: sql<string>`key`.as('key') })
      .as(
        sql`insert into ${budgetReservations} ${holdColumns} select r.key, upd.id, r.amount, r.kind, r.step_id, r.state_name, r.provider, r.model from req as r, ${upd} as upd where r.status is null or r.status = 'released' ${takeAgain} returning key`,
      );
    return db
      .with(req, need, upd, held)
      .select({
        fresh: sql<number>`need.fresh`.mapWith(Number),
        blocked: sql<boolean>`need.blocked`,
        taken: sql<number>`(select count(*) from ${upd})`.mapWith(Number),
      })
      .from(need)
      .prepare('wflo_reserve_budgets');
  });

  /** The figures a hold did not fit in (or NotFoundError without the execution). */
  const refusal = async (executionId: string): Promise<BudgetHoldResult> => {
    const [execution] = await db.select().from(executions).where(eq(executions.id, executionId));
    if (!execution) throw new NotFoundError(`execution ${executionId} not found`);
    return {
      ok: false,
      budgetMicros: execution.budgetMicros,
      costMicros: execution.costMicros,
      reservedMicros: execution.reservedMicros,
      overrunMicros: execution.overrunMicros,
    };
  };

  /**
   * A held reservation becomes a ledger row at its amount, `confirmed = false`, in one statement: the hold
   * is settled, the totals move, and `cost.recorded` says why the spend is unconfirmed. The hold's status
   * change is the idempotency: a second call finds it no longer `reserved` and writes nothing.
   */
  const unconfirmedQuery = once(() => {
    const settled = db
      .$with('settled', {
        key: sql<string>`key`.as('key'),
        executionId: sql<string>`execution_id`.as('execution_id'),
        amount: sql<number>`amount_micros`.as('amount_micros'),
      })
      .as(
        sql`update ${budgetReservations} set status = 'settled' where ${budgetReservations.key} = ${p('key')}::text and ${budgetReservations.status} = 'reserved' returning key, execution_id, amount_micros, kind, step_id, state_name, provider, model`,
      );
    const ins = db
      .$with('ins', {
        id: sql<number>`id`.as('id'),
        executionId: sql<string>`execution_id`.as('execution_id'),
      })
      .as(
        sql`insert into ${costEntries} (execution_id, step_id, state_name, kind, provider, model, usd_micros, idempotency_key, confirmed) select s.execution_id, (select ${steps.id} from ${steps} where ${steps.id} = s.step_id), s.state_name, s.kind, s.provider, s.model, s.amount_micros, 'unconfirmed:' || s.key, false from ${settled} as s on conflict do nothing returning id, execution_id, step_id, state_name, kind, provider, model, usd_micros`,
      );
    const totals = db
      .$with('totals', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set cost_micros = ${executions.costMicros} + i.usd_micros, reserved_micros = greatest(0, ${executions.reservedMicros} - i.usd_micros) from ${ins} as i where ${executions.id} = i.execution_id returning ${executions.id} as id`,
      );
    const stepTotal = db
      .$with('step_total', { id: sql<number>`id`.as('id') })
      .as(
        sql`update ${steps} set cost_micros = ${steps.costMicros} + i.usd_micros from ${ins} as i where ${steps.id} = i.step_id returning ${steps.id}`,
      );
    const ev = db
      .$with('ev', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select i.execution_id, ${EVENTS.costRecorded}::text, jsonb_build_object('executionId', i.execution_id, 'costEntryId', i.id, 'stateName', i.state_name, 'kind', i.kind, 'provider', i.provider, 'model', i.model, 'usdMicros', i.usd_micros, 'savedMicros', 0, 'confirmed', false, 'reason', ${p('reason')}::text) from ${ins} as i returning id`,
      );
    return db
      .with(settled, ins, totals, stepTotal, ev)
      .select({ id: ins.id })
      .from(ins)
      .prepare('wflo_record_unconfirmed');
  });

  return {
    async reserveBudget({
      key,
      executionId,
      amountMicros,
      kind = 'llm',
      stepId,
      stateName,
      provider,
      model,
    }) {
      if (!Number.isSafeInteger(amountMicros) || amountMicros < 0) {
        throw new RangeError('a reservation is a non-negative whole number of micro-dollars');
      }
      const [row] = await reserveQuery().execute({
        key,
        executionId,
        amount: amountMicros,
        kind,
        stepId: stepId ?? null,
        stateName: stateName ?? null,
        provider: provider ?? null,
        model: model ?? null,
      });
      if (row) return { ok: true };
      const [existing] = await db.select().from(budgetReservations).where(eq(budgetReservations.key, key));
      if (existing?.status === 'reserved') return { ok: true };
      return refusal(executionId);
    },

    async reserveBudgets(executionId, holds) {
      if (holds.length === 0) return { ok: true };
      for (const h of holds) {
        if (!Number.isSafeInteger(h.amountMicros) || h.amountMicros < 0) {
          throw new RangeError('a reservation is a non-negative whole number of micro-dollars');
        }
      }
      // One row per key: an INSERT … ON CONFLICT DO UPDATE may not touch the same row twice.
      if (new Set(holds.map((h) => h.key)).size !== holds.length) {
        throw new RangeError('the holds of one reserveBudgets call need distinct keys');
      }
      const [row] = await reserveManyQuery().execute({
        executionId,
        holds: JSON.stringify(
          holds.map((h) => ({
            key: h.key,
            amount: h.amountMicros,
            kind: h.kind ?? 'llm',
            step_id: h.stepId ?? null,
            state_name: h.stateName ?? null,
            provider: h.provider ?? null,
            model: h.model ?? null,
          })),
        ),
      });
      if (row && !row.blocked && (row.fresh === 0 || row.taken > 0)) return { ok: true };
      return refusal(executionId);
    },

    async listHeldReservations(executionId) {
      return db
        .select({ key: budgetReservations.key, kind: budgetReservations.kind })
        .from(budgetReservations)
        .where(
          and(eq(budgetReservations.executionId, executionId), eq(budgetReservations.status, 'reserved')),
        )
        .orderBy(budgetReservations.createdAt);
    },

    async recordUnconfirmed(reservationKey, reason) {
      const [row] = await unconfirmedQuery().execute({ key: reservationKey, reason });
      return { recorded: row !== undefined };
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
