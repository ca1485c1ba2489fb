import { and, eq, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { activityResults, budgetReservations, costEntries, executions, steps } from '../db/schema.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { EVENTS, stepEndEvent } from '../events/catalogue.ts';
import type { Store } from '../ports/store.ts';
import { outboxOf } from './outbox.ts';
import { json, once, p } from './statements.ts';

/** The step aggregate's part of the store: one row per attempt, opened and closed with its events. */
export type StepMethods = Pick<Store, 'beginStep' | 'completeStep'>;

/**
 * The step statements over one connection. `getActivityResult` answers a repeated `beginStep` (the row
 * was already there) with the result an earlier attempt kept.
 */
export function stepMethods(db: WfloDb, getActivityResult: Store['getActivityResult']): StepMethods {
  const outbox = outboxOf(db);
  /** A step attempt's row and its event, with the result a previous attempt kept (if any). */
  const beginStepQuery = once(() => {
    const ins = db.$with('ins').as(
      db
        .insert(steps)
        .values({
          executionId: p('executionId'),
          stateName: p('stateName'),
          activity: p('activity'),
          enteredAt: sql`${p('enteredAt')}::timestamptz`,
          item: p('item'),
          attempt: sql`${p('attempt')}::integer`,
        })
        .onConflictDoNothing()
        .returning(),
    );
    const ev = outbox(
      'ev',
      sql`${ins.executionId}`,
      sql`${ins}`,
      sql`case when ${ins.attempt} > 0 then ${EVENTS.stepRetrying}::text else ${EVENTS.stepStarted}::text end`,
      sql`jsonb_build_object('executionId', ${ins.executionId}, 'stepId', ${ins.id}, 'stateName', ${ins.stateName}, 'activity', ${ins.activity}, 'attempt', ${ins.attempt})`,
    );
    const kept = db
      .$with('kept', { result: sql<unknown>`result`.as('result') })
      .as(
        sql`select ${activityResults.result} as result from ${activityResults} where ${activityResults.key} = ${p('keptKey')}::text`,
      );
    return db.with(ins, ev, kept).select().from(ins).leftJoin(kept, sql`true`).prepare('wflo_begin_step');
  });

  /** Closes a step attempt: its row, its event, and its compute as a ledger row counted in the totals. */
  const completeStepQuery = once(() => {
    const compute = sql`${p('compute')}::bigint`;
    const upd = db.$with('upd').as(
      db
        .update(steps)
        .set({
          status: sql`${p('status')}`,
          durationMs: sql`${p('durationMs')}::integer`,
          error: sql`${p('error')}::jsonb`,
          finishedAt: sql`${p('finishedAt')}::timestamptz`,
          costMicros: sql`${steps.costMicros} + ${compute}`,
        })
        // Only a running attempt ends: a completion written again (its first reply lost with the connection)
        // charges no second compute row, and a step a cancel already ended keeps that end.
        .where(and(eq(steps.id, sql`${p('stepId')}::bigint`), eq(steps.status, 'running')))
        .returning(),
    );
    const ev = outbox(
      'ev',
      sql`${upd.executionId}`,
      sql`${upd}`,
      sql`${p('event')}::text`,
      sql`jsonb_strip_nulls(jsonb_build_object('executionId', ${upd.executionId}, 'stepId', ${upd.id}, 'stateName', ${upd.stateName}, 'activity', ${upd.activity}, 'attempt', ${upd.attempt}, 'durationMs', ${upd.durationMs}, 'error', ${upd.error}))`,
    );
    const ledger = db
      .$with('compute', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${costEntries} (execution_id, step_id, state_name, kind, usd_micros) select ${upd.executionId}, ${upd.id}, ${upd.stateName}, 'lambda', ${compute} from ${upd} where ${compute} > 0 returning id`,
      );
    // The attempt's compute hold (taken before it ran, at memory × its remaining time) is settled here.
    const settled = db
      .$with('settled', { amount: sql<number>`amount_micros`.as('amount_micros') })
      .as(
        sql`update ${budgetReservations} set status = 'settled' where ${budgetReservations.key} = ${p('reservationKey')}::text and ${budgetReservations.status} = 'reserved' and exists (select 1 from ${upd}) returning amount_micros`,
      );
    const totals = db
      .$with('totals', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set cost_micros = ${executions.costMicros} + ${compute}, reserved_micros = greatest(0, ${executions.reservedMicros} - coalesce((select sum(amount_micros) from ${settled}), 0)) from ${upd} where ${executions.id} = ${upd.executionId} returning ${executions.id}`,
      );
    return db
      .with(upd, ev, ledger, settled, totals)
      .select({ id: upd.id })
      .from(upd)
      .prepare('wflo_complete_step');
  });

  return {
    async beginStep(entry, options = {}) {
      const [inserted] = await beginStepQuery().execute({
        executionId: entry.executionId,
        stateName: entry.stateName,
        activity: entry.activity,
        enteredAt: entry.enteredAt,
        item: entry.item ?? '',
        attempt: entry.attempt,
        keptKey: options.keptResultKey ?? null,
      });
      if (inserted) {
        const result = inserted.kept?.result;
        return result == null ? inserted.ins : { ...inserted.ins, kept: result };
      }
      const [existing] = await db
        .select()
        .from(steps)
        .where(
          and(
            eq(steps.executionId, entry.executionId),
            eq(steps.stateName, entry.stateName),
            eq(steps.enteredAt, entry.enteredAt),
            eq(steps.item, entry.item ?? ''),
            eq(steps.attempt, entry.attempt),
          ),
        );
      if (!existing) throw new ConflictError(`step ${entry.stateName} could not be recorded`);
      const keptBefore = options.keptResultKey ? await getActivityResult(options.keptResultKey) : undefined;
      return keptBefore === undefined ? existing : { ...existing, kept: keptBefore };
    },

    async completeStep({ stepId, status, durationMs, error, computeMicros = 0, reservationKey }) {
      const [row] = await completeStepQuery().execute({
        stepId,
        status,
        event: stepEndEvent(status),
        durationMs,
        error: json(error),
        finishedAt: new Date().toISOString(),
        compute: computeMicros,
        reservationKey: reservationKey ?? null,
      });
      if (row) return;
      // Nothing updated: the attempt had already ended (that end stands), or there is no such step.
      const [existing] = await db.select({ id: steps.id }).from(steps).where(eq(steps.id, stepId));
      if (!existing) throw new NotFoundError(`step ${stepId} not found`);
    },
  };
}
