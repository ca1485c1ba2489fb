import { and, asc, eq, gt, inArray, isNull, max, type SQL, sql } from 'drizzle-orm';
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

    // The partial index events_unpublished keeps this a short index scan however long the outbox grows.
    async listUnpublishedEvents(limit) {
      return db.select().from(events).where(isNull(events.publishedAt)).orderBy(asc(events.id)).limit(limit);
    },

    async markEventsPublished(ids) {
      if (ids.length === 0) return 0;
      const marked = await db
        .update(events)
        .set({ publishedAt: sql`now()` })
        .where(and(inArray(events.id, [...ids]), isNull(events.publishedAt)))
        .returning({ id: events.id });
      return marked.length;
    },
  };
}
