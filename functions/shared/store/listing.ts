import { and, asc, desc, eq, gt, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { costEntries, executions, steps } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';
import type { ExecutionRow, Store } from '../ports/store.ts';

/** The store's read side: execution pages, the reconciler's stale list, one execution's steps and costs. */
export type ListingMethods = Pick<
  Store,
  'listExecutions' | 'listStaleExecutions' | 'listSteps' | 'listCosts'
>;

function encodeCursor(row: ExecutionRow): string {
  return Buffer.from(JSON.stringify([row.createdAt.toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string') throw new Error('bad cursor');
    return [date, id];
  } catch (cause) {
    throw new NotFoundError('cursor is not one this API issued', { cause });
  }
}

/** The read queries over one connection (built per call: their shape depends on the filters). */
export function listingMethods(db: WfloDb): ListingMethods {
  return {
    async listExecutions({ workflow, status, limit, cursor }) {
      const conditions = [];
      if (workflow) conditions.push(eq(executions.workflow, workflow));
      if (status) conditions.push(eq(executions.status, status));
      if (cursor) {
        const [at, id] = decodeCursor(cursor);
        // Postgres keeps microseconds, the cursor (a JS Date) milliseconds: page after the cursor row's own
        // created_at, read back by its key, or rows created in the same millisecond after it would be skipped.
        // When that row is gone, the end of the cursor's millisecond stands in: a run of that millisecond may
        // show twice, none is skipped. A row comparison the (created_at desc, id desc) index serves.
        const from = sql`coalesce((select c.created_at from ${executions} c where c.id = ${id}), ${at.toISOString()}::timestamptz + interval '999 microseconds')`;
        conditions.push(sql`(${executions.createdAt}, ${executions.id}) < (${from}, ${id})`);
      }
      const rows = await db
        .select()
        .from(executions)
        .where(conditions.length ? and(...conditions) : undefined)
        .orderBy(desc(executions.createdAt), desc(executions.id))
        .limit(limit + 1);
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : undefined };
    },

    async listStaleExecutions({ statuses, createdBefore, limit, after }) {
      if (statuses.length === 0 || limit <= 0) return [];
      // Postgres keeps microseconds, a JS Date (the page cursor) milliseconds: order and page on the
      // millisecond so the cursor compares equal to the row it came from, or a page would repeat rows.
      const createdMs = sql`date_trunc('milliseconds', ${executions.createdAt})`;
      const conditions: (SQL | undefined)[] = [
        inArray(executions.status, [...statuses]),
        lt(executions.createdAt, createdBefore),
      ];
      if (after) {
        const at = after.createdAt.toISOString();
        conditions.push(
          or(
            sql`${createdMs} > ${at}::timestamptz`,
            and(sql`${createdMs} = ${at}::timestamptz`, gt(executions.id, after.id)),
          ),
        );
      }
      return db
        .select()
        .from(executions)
        .where(and(...conditions))
        .orderBy(asc(createdMs), asc(executions.id))
        .limit(limit);
    },

    async listSteps(executionId) {
      return db.select().from(steps).where(eq(steps.executionId, executionId)).orderBy(asc(steps.id));
    },

    async listCosts(executionId) {
      return db
        .select()
        .from(costEntries)
        .where(eq(costEntries.executionId, executionId))
        .orderBy(asc(costEntries.id));
    },
  };
}
