import { and, asc, eq, gt, isNull, max, type SQL, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { events } from '../db/schema.ts';
import type { Store } from '../ports/store.ts';
import { p } from './statements.ts';

/** The outbox's part of the store: events appended on their own, and one execution's events read back. */
export type OutboxMethods = Pick<
  Store,
  | 'appendEvents'
  | 'listEvents'
  | 'listEventsSince'
  | 'lastEventId'
  | 'listUnpublishedEvents'
  | 'markEventsPublished'
>;

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

    async listEventsSince(after, limit) {
      return db.select().from(events).where(gt(events.id, after)).orderBy(asc(events.id)).limit(limit);
    },

    async lastEventId() {
      const [row] = await db.select({ id: max(events.id) }).from(events);
      return Number(row?.id ?? 0);
    },

    // The partial index events_unpublished keeps this a short index scan however long the outbox grows;
    // `after` starts it past the batch the relay is still producing (not yet marked).
    async listUnpublishedEvents(limit, after) {
      const unpublished = isNull(events.publishedAt);
      return db
        .select()
        .from(events)
        .where(after === undefined ? unpublished : and(unpublished, gt(events.id, after)))
        .orderBy(asc(events.id))
        .limit(limit);
    },

    // One statement per batch with the ids as ONE text parameter (`= ANY` of the array it splits into): a
    // statement of 1,000 placeholders costs more to build, send and parse than the update itself, and the
    // Aurora Data API takes no array parameters. The count comes back as one row, not one row per id.
    async markEventsPublished(ids) {
      if (ids.length === 0) return 0;
      const marked = db
        .$with('marked', { id: sql<number>`id`.as('id') })
        .as(
          sql`update ${events} set published_at = now() where ${events.id} = any(string_to_array(${ids.join(',')}::text, ',')::bigint[]) and ${events.publishedAt} is null returning ${events.id} as id`,
        );
      const [row] = await db
        .with(marked)
        .select({ n: sql<number>`count(*)::int`.mapWith(Number) })
        .from(marked);
      return row?.n ?? 0;
    },
  };
}
