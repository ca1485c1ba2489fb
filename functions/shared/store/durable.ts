import { and, eq, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { engineJournal, events, executions } from '../db/schema.ts';
import { EVENTS } from '../events/catalogue.ts';
import type { Store } from '../ports/store.ts';
import { once, p } from './statements.ts';

/** The embedded engine's durable state: journal, run leases, redrive (see the Store port). */
export type DurableMethods = Pick<
  Store,
  | 'readJournal'
  | 'readJournalEntry'
  | 'writeJournal'
  | 'insertJournalOnce'
  | 'deleteJournalEntries'
  | 'claimExecution'
  | 'renewLeases'
  | 'listUnowned'
  | 'redriveExecution'
>;

/** Statuses a live process drives (pending: accepted, not yet started; waiting for a person: its timeout runs). */
const DRIVEN = ['pending', 'running', 'waiting_approval'] as const;
/** Statuses Step Functions lets a user redrive. */
const REDRIVABLE = ['failed', 'timed_out', 'cancelled'] as const;

export function durableMethods(db: WfloDb): DurableMethods {
  const upsertQuery = once(() =>
    db
      .insert(engineJournal)
      .values({
        executionId: p('executionId'),
        key: p('key'),
        value: sql`${p('value')}::jsonb`,
      })
      .onConflictDoUpdate({
        target: [engineJournal.executionId, engineJournal.key],
        set: { value: sql`excluded.value`, updatedAt: sql`now()` },
      })
      .prepare('wflo_journal_write'),
  );

  return {
    async readJournal(executionId) {
      const rows = await db
        .select({ key: engineJournal.key, value: engineJournal.value })
        .from(engineJournal)
        .where(eq(engineJournal.executionId, executionId));
      return Object.fromEntries(rows.map((r) => [r.key, r.value]));
    },

    async readJournalEntry(executionId, key) {
      const [row] = await db
        .select({ value: engineJournal.value })
        .from(engineJournal)
        .where(and(eq(engineJournal.executionId, executionId), eq(engineJournal.key, key)));
      return row?.value ?? undefined;
    },

    async writeJournal(executionId, key, value) {
      await upsertQuery().execute({ executionId, key, value: JSON.stringify(value) });
    },

    async insertJournalOnce(executionId, key, value) {
      const rows = await db
        .insert(engineJournal)
        .values({ executionId, key, value: sql`${JSON.stringify(value)}::jsonb` })
        .onConflictDoNothing()
        .returning({ key: engineJournal.key });
      return rows.length === 1;
    },

    async deleteJournalEntries(executionId, keys) {
      if (keys.length === 0) return;
      await db
        .delete(engineJournal)
        .where(and(eq(engineJournal.executionId, executionId), inArray(engineJournal.key, [...keys])));
    },

    async claimExecution({ id, owner, leaseMs, from }) {
      const expiry = sql`now() + ${`${Math.max(1, Math.round(leaseMs))} milliseconds`}::interval`;
      const holder =
        from === undefined
          ? or(
              isNull(executions.owner),
              eq(executions.owner, owner),
              lt(executions.leaseExpiresAt, sql`now()`),
            )
          : from === null
            ? isNull(executions.owner)
            : eq(executions.owner, from);
      const rows = await db
        .update(executions)
        .set({ owner, leaseExpiresAt: expiry })
        .where(and(eq(executions.id, id), inArray(executions.status, [...DRIVEN]), holder))
        .returning({ id: executions.id });
      return rows.length === 1;
    },

    async renewLeases(owner, leaseMs) {
      const expiry = sql`now() + ${`${Math.max(1, Math.round(leaseMs))} milliseconds`}::interval`;
      const rows = await db
        .update(executions)
        .set({ leaseExpiresAt: expiry })
        .where(and(eq(executions.owner, owner), inArray(executions.status, [...DRIVEN])))
        .returning({ id: executions.id });
      return rows.length;
    },

    async listUnowned({ owner, limit }) {
      return db
        .select({
          id: executions.id,
          workflow: executions.workflow,
          input: executions.input,
          owner: executions.owner,
          leaseExpiresAt: executions.leaseExpiresAt,
          createdAt: executions.createdAt,
          leaseExpired: sql<boolean>`coalesce(${executions.leaseExpiresAt} < now(), true)`,
        })
        .from(executions)
        .where(
          and(
            inArray(executions.status, [...DRIVEN]),
            or(isNull(executions.owner), ne(executions.owner, owner)),
          ),
        )
        .orderBy(executions.createdAt)
        .limit(limit);
    },

    async redriveExecution(id, savedMicros) {
      // One statement (no transaction, as everywhere in the store): the row back to running and its event.
      const upd = db.$with('upd').as(
        db
          .update(executions)
          .set({
            status: 'running',
            output: null,
            error: null,
            finishedAt: null,
            owner: null,
            leaseExpiresAt: null,
            redriveCount: sql`${executions.redriveCount} + 1`,
            savedMicros: sql`${executions.savedMicros} + ${savedMicros}::bigint`,
          })
          .where(and(eq(executions.id, id), inArray(executions.status, [...REDRIVABLE])))
          .returning(),
      );
      const ev = db
        .$with('ev', { id: sql<number>`id`.as('id') })
        .as(
          sql`insert into ${events} (execution_id, type, payload) select ${upd.id}, ${EVENTS.executionRedriven}::text, jsonb_build_object('executionId', ${upd.id}, 'workflow', ${upd.workflow}, 'redriveCount', ${upd.redriveCount}, 'savedMicros', ${savedMicros}::bigint) from ${upd} returning id`,
        );
      const [row] = await db.with(upd, ev).select().from(upd);
      return row;
    },
  };
}
