import { eq, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { activityResults, budgetReservations, costEntries, events, executions, steps } from '../db/schema.ts';
import { ConflictError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import type { Store } from '../ports/store.ts';
import { extraOutboxOf, outboxOf } from './outbox.ts';
import { json, p } from './statements.ts';

/** The ledger's part of the store: cost rows with the totals and events that move with them, kept results. */
export type LedgerMethods = Pick<Store, 'recordCost' | 'getActivityResult'>;

/**
 * The ledger statements over one connection. `releaseBudget` gives back the reservation of a charge that
 * turned out to be a repeat (its first write already settled one).
 */
export function ledgerMethods(db: WfloDb, releaseBudget: Store['releaseBudget']): LedgerMethods {
  const outbox = outboxOf(db);
  const extraOutbox = extraOutboxOf(db);
  /**
   * A ledger row with everything that moves with it, in one statement. Only the parts a charge needs
   * (settling a reservation `r`, extra events `e`, keeping the activity's result `k`): a smaller
   * statement plans faster, and each shape is one prepared statement.
   */
  const recordCostQuery = (shape: string) => {
    const ins = db.$with('ins').as(
      db
        .insert(costEntries)
        .values({
          executionId: p('executionId'),
          stepId: sql`${p('stepId')}::bigint`,
          stateName: p('stateName'),
          kind: sql`${p('kind')}`,
          provider: p('provider'),
          model: p('model'),
          tokensIn: sql`${p('tokensIn')}::integer`,
          tokensOut: sql`${p('tokensOut')}::integer`,
          tokensCached: sql`${p('tokensCached')}::integer`,
          usdMicros: sql`${p('usdMicros')}::bigint`,
          savedMicros: sql`${p('savedMicros')}::bigint`,
          idempotencyKey: p('idempotencyKey'),
        })
        .onConflictDoNothing()
        .returning(),
    );
    // `r`: settle one reservation (an overrun when the charge is above it); `h`: every hold of one kind.
    const settlesOne = shape.includes('r');
    const settles = settlesOne || shape.includes('h');
    // Settling: only when the ledger row was written, so a repeat cannot settle twice.
    const which = settlesOne
      ? sql`${budgetReservations.key} = ${p('reservationKey')}::text`
      : sql`${budgetReservations.executionId} = ${p('executionId')} and ${budgetReservations.kind} = ${p('heldKind')}::text`;
    const settled = db
      .$with('settled', { amount: sql<number>`amount_micros`.as('amount_micros') })
      .as(
        sql`update ${budgetReservations} set status = 'settled' where ${which} and ${budgetReservations.status} = 'reserved' and exists (select 1 from ${ins}) returning amount_micros`,
      );
    // What the charge exceeds its one reservation by (0 when it fits, or when the hold was already gone).
    const excess = settlesOne
      ? sql`greatest(0, ${ins.usdMicros} - coalesce((select sum(amount_micros) from ${settled}), ${ins.usdMicros}))`
      : sql`0`;
    // The totals move in the same statement as the ledger row, so they always equal its sum.
    const totals = db
      .$with('totals', {
        id: sql<string>`id`.as('id'),
        newCost: sql<number>`new_cost`.as('new_cost'),
        delta: sql<number>`delta`.as('delta'),
        budget: sql<number | null>`budget`.as('budget'),
      })
      .as(
        sql`update ${executions} set cost_micros = ${executions.costMicros} + ${ins.usdMicros}, saved_micros = ${executions.savedMicros} + ${ins.savedMicros}, reserved_micros = greatest(0, ${executions.reservedMicros} - ${settles ? sql`coalesce((select sum(amount_micros) from ${settled}), 0)` : sql`0`}), overrun_micros = ${executions.overrunMicros} + ${excess} from ${ins} where ${executions.id} = ${ins.executionId} returning ${executions.id} as id, ${executions.costMicros} as new_cost, ${ins.usdMicros} as delta, ${executions.budgetMicros} as budget`,
      );
    const stepTotal = db
      .$with('step_total', { id: sql<number>`id`.as('id') })
      .as(
        sql`update ${steps} set cost_micros = ${steps.costMicros} + ${ins.usdMicros} from ${ins} where ${steps.id} = ${ins.stepId} returning ${steps.id}`,
      );
    const ev = outbox(
      'ev',
      sql`${ins.executionId}`,
      sql`${ins}`,
      sql`${EVENTS.costRecorded}::text`,
      sql`jsonb_build_object('executionId', ${ins.executionId}, 'costEntryId', ${ins.id}, 'stateName', ${ins.stateName}, 'kind', ${ins.kind}, 'model', ${ins.model}, 'usdMicros', ${ins.usdMicros}, 'savedMicros', ${ins.savedMicros}, 'confirmed', true)`,
    );
    const extra = extraOutbox('extra', sql`${ins.executionId}`, sql`${ins}`);
    // budget.warning once per threshold, when this charge crosses it.
    const warn = db
      .$with('warn', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select totals.id, ${EVENTS.budgetWarning}::text, jsonb_build_object('executionId', totals.id, 'thresholdPercent', p, 'costMicros', totals.new_cost, 'budgetMicros', totals.budget) from ${totals} as totals, unnest(array[50, 75, 90]) as p where totals.budget > 0 and totals.new_cost * 100 >= p * totals.budget and (totals.new_cost - totals.delta) * 100 < p * totals.budget returning id`,
      );
    // budget.overrun: the charge is above the worst case it reserved, naming the provider and the step.
    const overrun = db
      .$with('overrun', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select ${ins.executionId}, ${EVENTS.budgetOverrun}::text, jsonb_build_object('executionId', ${ins.executionId}, 'costEntryId', ${ins.id}, 'stepId', ${ins.stepId}, 'stateName', ${ins.stateName}, 'kind', ${ins.kind}, 'provider', ${ins.provider}, 'model', ${ins.model}, 'reservedMicros', ${ins.usdMicros} - ${excess}, 'chargedMicros', ${ins.usdMicros}, 'overrunMicros', ${excess}) from ${ins} where ${excess} > 0 returning id`,
      );
    const kept = db
      .$with('kept', { key: sql<string>`key`.as('key') })
      .as(
        sql`insert into ${activityResults} (key, execution_id, result) select ${p('resultKey')}::text, ${ins.executionId}, ${p('resultValue')}::jsonb from ${ins} on conflict do nothing returning key`,
      );
    const parts = [
      ins,
      ...(settles ? [settled] : []),
      totals,
      ...(settlesOne ? [overrun] : []),
      stepTotal,
      ev,
      ...(shape.includes('e') ? [extra] : []),
      warn,
      ...(shape.includes('k') ? [kept] : []),
    ];
    // Named per shape: on PostgreSQL the server keeps each shape's plan, most of this statement's cost.
    return db
      .with(...parts)
      .select()
      .from(ins)
      .prepare(`wflo_record_cost_${shape || 'plain'}`);
  };
  const recordCostQueries = new Map<string, ReturnType<typeof recordCostQuery>>();

  return {
    async recordCost(entry, extraEvents = [], options = {}) {
      const held = options.reservationKey ? 'r' : options.settleHeldKind ? 'h' : '';
      const shape = `${held}${extraEvents.length ? 'e' : ''}${options.result ? 'k' : ''}`;
      let query = recordCostQueries.get(shape);
      if (!query) {
        query = recordCostQuery(shape);
        recordCostQueries.set(shape, query);
      }
      const [row] = await query.execute({
        executionId: entry.executionId,
        stepId: entry.stepId ?? null,
        stateName: entry.stateName ?? null,
        kind: entry.kind,
        provider: entry.provider ?? null,
        model: entry.model ?? null,
        tokensIn: entry.tokensIn ?? 0,
        tokensOut: entry.tokensOut ?? 0,
        tokensCached: entry.tokensCached ?? 0,
        usdMicros: entry.usdMicros,
        savedMicros: entry.savedMicros ?? 0,
        idempotencyKey: entry.idempotencyKey ?? null,
        reservationKey: options.reservationKey ?? null,
        heldKind: options.settleHeldKind ?? null,
        extra: JSON.stringify(extraEvents),
        resultKey: options.result?.key ?? null,
        resultValue: json(options.result?.value),
      });
      if (row) return { entry: row, created: true };
      const [existing] = entry.idempotencyKey
        ? await db.select().from(costEntries).where(eq(costEntries.idempotencyKey, entry.idempotencyKey))
        : [];
      if (!existing) throw new ConflictError('cost entry conflicted but no prior entry was found');
      if (options.reservationKey) await releaseBudget(options.reservationKey);
      return { entry: existing, created: false };
    },

    async getActivityResult(key) {
      const [row] = await db
        .select({ result: activityResults.result })
        .from(activityResults)
        .where(eq(activityResults.key, key));
      return row?.result;
    },
  };
}
