import { and, asc, eq, getTableColumns, gt, max, type SQL, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { events, relayCursor } from '../db/schema.ts';
import type { Store } from '../ports/store.ts';
import { p, rowsOf } from './statements.ts';

/** The outbox's part of the store: events appended on their own, and one execution's events read back. */
export type OutboxMethods = Pick<
  Store,
  | 'appendEvents'
  | 'listEvents'
  | 'outboxHead'
  | 'readOutbox'
  | 'readRelayBatch'
  | 'relayCursor'
  | 'advanceRelayCursor'
>;

/** The snapshot bounds of the statement they appear in (its own snapshot: the one its rows were read in). */
const XMIN = sql<number>`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`.mapWith(Number);
const XMAX = sql<number>`pg_snapshot_xmax(pg_current_snapshot())::text::bigint`.mapWith(Number);

/**
 * A CTE that writes one outbox row per row of `from`, in the same statement as the change itself:
 * every state change in the store is a single SQL statement (atomic without a transaction, one round
 * trip — which matters most on the Aurora Data API, where each call is an HTTPS request).
 */
export const outboxOf =
  (db: WfloDb) => (alias: string, executionId: SQL, from: SQL, type: SQL, payload: SQL) =>
    db
      .$with(alias, { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select ${executionId}, ${type}, ${payload} from ${from} returning id`,
      );

/** Extra events (a JSON array of type + payload, placeholder `extra`) for every row of `from`. */
export const extraOutboxOf = (db: WfloDb) => (alias: string, executionId: SQL, from: SQL) =>
  db
    .$with(alias, { id: sql<number>`id`.as('id') })
    .as(
      sql`insert into ${events} (execution_id, type, payload) select ${executionId}, e.type, e.payload from ${from}, jsonb_to_recordset(${p('extra')}::jsonb) as e(type text, payload jsonb) returning id`,
    );

/** The outbox reads and writes over one connection. */
export function outboxMethods(db: WfloDb): OutboxMethods {
  return {
    async appendEvents(executionId, list) {
      if (list.length === 0) return;
      await db.insert(events).values(list.map((e) => ({ executionId, type: e.type, payload: e.payload })));
    },

    async listEvents(executionId, after, limit) {
      return db
        .select()
        .from(events)
        .where(and(eq(events.executionId, executionId), gt(events.id, after)))
        .orderBy(asc(events.id))
        .limit(limit);
    },

    async outboxHead() {
      const [row] = await db.select({ head: max(events.id), xmin: XMIN, xmax: XMAX }).from(events);
      return { head: Number(row?.head ?? 0), xmin: Number(row?.xmin ?? 0), xmax: Number(row?.xmax ?? 0) };
    },

    async readOutbox(after, limit) {
      const rows = await db
        .select({ ...getTableColumns(events), xmin: XMIN, xmax: XMAX })
        .from(events)
        .where(gt(events.id, after))
        .orderBy(asc(events.id))
        .limit(limit);
      const { xmin = 0, xmax = 0 } = rows[0] ?? {};
      return { rows: rows.map(({ xmin: _n, xmax: _x, ...row }) => row), xmin, xmax };
    },

    // One row for the whole batch: the database joins the rows into one text (a JSON head per row, a tab, the
    // payload's JSON as stored), so the driver parses one value instead of 6 × 1,000, and no payload is parsed
    // and serialised again on its way to Kafka. JSON text has no raw tab or newline: both separators are safe.
    async readRelayBatch(after, limit) {
      const [row] = rowsOf<{ xmin: number | string; xmax: number | string; batch: string | null }>(
        await db.execute(
          sql`select ${XMIN} as xmin, ${XMAX} as xmax, (select string_agg(json_build_array(e.id, e.event_id, e.execution_id, e.type, round(extract(epoch from date_trunc('milliseconds', e.created_at)) * 1000))::text || E'\t' || e.payload::text, E'\n' order by e.id) from (select * from ${events} where ${events.id} > ${after} order by ${events.id} limit ${limit}) e) as batch`,
        ),
      );
      if (!row?.batch) return { events: [], xmin: 0, xmax: 0 };
      const list = row.batch.split('\n').map((line) => {
        const tab = line.indexOf('\t');
        const [id, eventId, executionId, type, createdAtMs] = JSON.parse(line.slice(0, tab)) as [
          number,
          string,
          string,
          string,
          number,
        ];
        return { id, eventId, executionId, type, createdAtMs, payloadJson: line.slice(tab + 1) };
      });
      return { events: list, xmin: Number(row.xmin), xmax: Number(row.xmax) };
    },

    async relayCursor(name) {
      const [row] = await db
        .select({ lastId: relayCursor.lastId })
        .from(relayCursor)
        .where(eq(relayCursor.name, name));
      return Number(row?.lastId ?? 0);
    },

    // One row per batch instead of one update per event: the whole cost of "marking" a batch.
    async advanceRelayCursor(name, lastId) {
      await db
        .insert(relayCursor)
        .values({ name, lastId })
        .onConflictDoUpdate({
          target: relayCursor.name,
          set: { lastId: sql`greatest(${relayCursor.lastId}, excluded.last_id)`, updatedAt: sql`now()` },
        });
    },
  };
}
