import { sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { budgetReservations, costEntries, engineJournal, events, executions, steps } from '../db/schema.ts';
import { EVENTS } from '../events/catalogue.ts';
import type { Store } from '../ports/store.ts';
import { rowsOf } from './statements.ts';

/**
 * Taking over many runs at once (a restart resuming every run its dead process left running): the same
 * changes as claimExecution, recordUnconfirmed, releaseHeld, readJournal and writeJournal make for one run,
 * each as one statement for the whole set. One backend (PGlite) runs a statement at a time, so a resume of
 * 200 runs costs a handful of statements instead of ten per run.
 *
 * Every set travels as ONE jsonb text parameter (as markEventsPublished does with its ids): the statement
 * text stays the same whatever the number of runs (prepared once; the Data API takes no array parameters).
 * Each id list is turned into an array before it meets its table (`= any(array(select …))`), so PostgreSQL
 * probes the primary key per id instead of guessing 100 rows for the recordset and scanning the table.
 */
export type ResumeMethods = Pick<
  Store,
  'claimExecutions' | 'settleInterruptedRuns' | 'readJournals' | 'writeJournals'
>;

/** Statuses a live process drives (as in durable.ts). */
const DRIVEN = sql`('pending', 'running', 'waiting_approval')`;

export function resumeMethods(db: WfloDb): ResumeMethods {
  return {
    async claimExecutions({ owner, leaseMs, runs }) {
      if (runs.length === 0) return [];
      const expiry = `${Math.max(1, Math.round(leaseMs))} milliseconds`;
      const claims = JSON.stringify(runs.map((r) => ({ id: r.id, from_owner: r.from })));
      // `is not distinct from`: a null `from` claims only a run no one owns, as claimExecution's does.
      const result = await db.execute(
        sql`with c as (select id, from_owner from jsonb_to_recordset(${claims}::jsonb) as c(id text, from_owner text)) update ${executions} as e set owner = ${owner}::text, lease_expires_at = now() + ${expiry}::interval from c where e.id = any(array(select id from c)) and e.id = c.id and e.status in ${DRIVEN} and e.owner is not distinct from c.from_owner returning e.id`,
      );
      return rowsOf<{ id: string }>(result).map((r) => r.id);
    },

    async settleInterruptedRuns(runs, unconfirmedReason) {
      if (runs.length === 0) return { unconfirmed: 0, reservations: 0, steps: 0 };
      const ids = JSON.stringify(runs.map((r) => r.executionId));
      // 1. Every model-call hold still held becomes unconfirmed spend at its amount (recordUnconfirmed for
      //    the set): the call may have been billed. Totals are summed per execution and per step first, as
      //    one statement may change a row only once.
      const [unconfirmed] = rowsOf<{ n: number | string }>(
        await db.execute(sql`with settled as (
  update ${budgetReservations} set status = 'settled'
  where ${budgetReservations.executionId} = any(array(select jsonb_array_elements_text(${ids}::jsonb)))
    and ${budgetReservations.status} = 'reserved' and ${budgetReservations.kind} = 'llm'
  returning key, execution_id, amount_micros, kind, step_id, state_name, provider, model
), ins as (
  insert into ${costEntries} (execution_id, step_id, state_name, kind, provider, model, usd_micros, idempotency_key, confirmed)
  select s.execution_id, (select ${steps.id} from ${steps} where ${steps.id} = s.step_id), s.state_name, s.kind, s.provider, s.model, s.amount_micros, 'unconfirmed:' || s.key, false
  from settled as s on conflict do nothing
  returning id, execution_id, step_id, state_name, kind, provider, model, usd_micros
), per_execution as (
  select execution_id, sum(usd_micros)::bigint as usd from ins group by execution_id
), totals as (
  update ${executions} set cost_micros = ${executions.costMicros} + t.usd, reserved_micros = greatest(0, ${executions.reservedMicros} - t.usd)
  from per_execution as t where ${executions.id} = t.execution_id returning ${executions.id}
), per_step as (
  select step_id, sum(usd_micros)::bigint as usd from ins where step_id is not null group by step_id
), step_totals as (
  update ${steps} set cost_micros = ${steps.costMicros} + t.usd from per_step as t where ${steps.id} = t.step_id returning ${steps.id}
), ev as (
  insert into ${events} (execution_id, type, payload)
  select i.execution_id, ${EVENTS.costRecorded}::text, jsonb_build_object('executionId', i.execution_id, 'costEntryId', i.id, 'stateName', i.state_name, 'kind', i.kind, 'provider', i.provider, 'model', i.model, 'usdMicros', i.usd_micros, 'savedMicros', 0, 'confirmed', false, 'reason', ${unconfirmedReason}::text)
  from ins as i returning id
)
select count(*) as n from ins`),
      );
      // 2. Everything else is let go (releaseHeld for the set): other holds released, nothing reserved, each
      //    step still `running` ended failed with its run's error; and each run's `execution.resumed`.
      const list = JSON.stringify(
        runs.map((r) => ({ id: r.executionId, error: r.error, previous_owner: r.previousOwner })),
      );
      const [released] = rowsOf<{ reservations: number | string; steps: number | string }>(
        await db.execute(sql`with r as (
  select id, error, previous_owner from jsonb_to_recordset(${list}::jsonb) as r(id text, error jsonb, previous_owner text)
), released as (
  update ${budgetReservations} set status = 'released'
  where ${budgetReservations.executionId} = any(array(select id from r)) and ${budgetReservations.status} = 'reserved'
  returning key
), zeroed as (
  update ${executions} set reserved_micros = 0 where ${executions.id} = any(array(select id from r)) returning ${executions.id}
), ended as (
  update ${steps} as s set status = 'failed', error = r.error, finished_at = now()
  from r where s.execution_id = any(array(select id from r)) and s.execution_id = r.id and s.status = 'running'
  returning s.id
), ev as (
  insert into ${events} (execution_id, type, payload)
  select r.id, ${EVENTS.executionResumed}::text, jsonb_build_object('executionId', r.id, 'previousOwner', r.previous_owner)
  from r returning id
)
select (select count(*) from released) as reservations, (select count(*) from ended) as steps`),
      );
      return {
        unconfirmed: Number(unconfirmed?.n ?? 0),
        reservations: Number(released?.reservations ?? 0),
        steps: Number(released?.steps ?? 0),
      };
    },

    async readJournals(executionIds) {
      const journals = new Map<string, Record<string, unknown>>();
      if (executionIds.length === 0) return journals;
      for (const id of executionIds) journals.set(id, {});
      // Through the column's own mapping, as readJournal reads it.
      const rows = await db
        .select({
          executionId: engineJournal.executionId,
          key: engineJournal.key,
          value: engineJournal.value,
        })
        .from(engineJournal)
        .where(
          sql`${engineJournal.executionId} = any(array(select jsonb_array_elements_text(${JSON.stringify(executionIds)}::jsonb)))`,
        );
      for (const row of rows) {
        const journal = journals.get(row.executionId);
        if (journal) journal[row.key] = row.value;
      }
      return journals;
    },

    async writeJournals(entries) {
      if (entries.length === 0) return;
      // One row per (execution, key): an INSERT … ON CONFLICT DO UPDATE may not touch the same row twice.
      const last = new Map<string, { execution_id: string; key: string; value: unknown }>();
      for (const e of entries)
        last.set(JSON.stringify([e.executionId, e.key]), {
          execution_id: e.executionId,
          key: e.key,
          value: e.value,
        });
      await db.execute(
        sql`insert into ${engineJournal} (execution_id, key, value) select r.execution_id, r.key, r.value from jsonb_to_recordset(${JSON.stringify([...last.values()])}::jsonb) as r(execution_id text, key text, value jsonb) on conflict (execution_id, key) do update set value = excluded.value, updated_at = now()`,
      );
    },
  };
}
