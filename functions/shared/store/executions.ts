import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { events, executions } from '../db/schema.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { EVENTS, executionEndEvent } from '../events/catalogue.ts';
import { type Store, TERMINAL_STATUSES } from '../ports/store.ts';
import { outboxOf } from './outbox.ts';
import { json, once, p, rowsOf } from './statements.ts';

/** The execution aggregate's part of the store: create, start, finish, read, discard. */
export type ExecutionMethods = Pick<
  Store,
  | 'createExecution'
  | 'discardExecution'
  | 'getExecution'
  | 'markRunning'
  | 'finishExecution'
  | 'recordExecutionEnd'
>;

/** JSON equality regardless of key order, for idempotent-create comparisons. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The execution statements over one connection, each built (and prepared by name) on first use. */
/**
 * The event id of a run's terminal event for one drive (0 = first, n = n-th redrive): a UUID derived from both,
 * so the unique `events.event_id` lets exactly one end event per drive in, whoever writes it and however often.
 */
function endEventId(executionId: SQL, drive: SQL): SQL {
  return sql`md5('wflo-end:' || ${executionId} || ':' || ${drive})::uuid::text`;
}

export function executionMethods(db: WfloDb): ExecutionMethods {
  const outbox = outboxOf(db);
  /** execution.created, then execution.started when created running: one insert, in that order. */
  const createQuery = (running: boolean) => {
    const ins = db.$with('ins').as(
      db
        .insert(executions)
        .values({
          id: p('id'),
          workflow: p('workflow'),
          input: sql`${p('input')}::jsonb`,
          budgetMicros: p('budgetMicros'),
          idempotencyKey: p('idempotencyKey'),
          ...(running ? { status: 'running' as const, startedAt: sql`${p('startedAt')}::timestamptz` } : {}),
        })
        .onConflictDoNothing()
        .returning(),
    );
    const ev = db
      .$with('ev', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select ${ins.id}, e.type, case when e.ord = 1 then jsonb_build_object('executionId', ${ins.id}, 'workflow', ${ins.workflow}, 'budgetMicros', ${ins.budgetMicros}) else jsonb_build_object('executionId', ${ins.id}, 'workflow', ${ins.workflow}) end from ${ins} cross join (values (1, ${EVENTS.executionCreated}::text), (2, ${EVENTS.executionStarted}::text)) as e(ord, type) where e.ord = 1 or ${ins.status} = 'running' order by e.ord returning id`,
      );
    return db
      .with(ins, ev)
      .select()
      .from(ins)
      .prepare(running ? 'wflo_create_execution_running' : 'wflo_create_execution');
  };
  const createPendingQuery = once(() => createQuery(false));
  const createRunningQuery = once(() => createQuery(true));

  const getExecutionQuery = once(() =>
    db
      .select()
      .from(executions)
      .where(eq(executions.id, p('id')))
      .prepare('wflo_get_execution'),
  );

  /** Ends an execution that has not ended yet (its status, output or error) with its event. */
  const finishUpdate = () =>
    db
      .update(executions)
      .set({
        status: sql`${p('status')}`,
        output: sql`${p('output')}::jsonb`,
        error: sql`${p('error')}::jsonb`,
        finishedAt: sql`${p('finishedAt')}::timestamptz`,
        reservedMicros: 0,
      })
      .where(and(eq(executions.id, p('id')), sql`${executions.status} NOT IN ${TERMINAL_STATUSES}`))
      .returning();
  /** The same end without its event: recordExecutionEnd writes it after the run's last charge. */
  const finishWithoutEventQuery = once(() => finishUpdate().prepare('wflo_finish_execution_quiet'));
  const finishQuery = once(() => {
    const upd = db.$with('upd').as(finishUpdate());
    const ev = db
      .$with('ev', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (event_id, execution_id, type, payload) select ${endEventId(sql`${upd.id}`, sql`${upd.redriveCount}`)}, ${upd.id}, ${p('event')}::text, jsonb_strip_nulls(jsonb_build_object('executionId', ${upd.id}, 'workflow', ${upd.workflow}, 'status', ${upd.status}, 'costMicros', ${upd.costMicros}, 'error', ${upd.error})) from ${upd} on conflict (event_id) do nothing returning id`,
      );
    return db.with(upd, ev).select().from(upd).prepare('wflo_finish_execution');
  });

  return {
    async recordExecutionEnd(id) {
      // The same payload as finishQuery's event, from the row as it is now (every charge in). The event id is
      // derived from the run and its drive, so a redelivered end racing the first writes nothing (the unique
      // event_id decides), and a redriven run's new end is a new event.
      const rows = await db.execute(
        sql`insert into ${events} (event_id, execution_id, type, payload) select ${endEventId(sql`${executions.id}`, sql`${executions.redriveCount}`)}, ${executions.id}, 'execution.' || ${executions.status}, jsonb_strip_nulls(jsonb_build_object('executionId', ${executions.id}, 'workflow', ${executions.workflow}, 'status', ${executions.status}, 'costMicros', ${executions.costMicros}, 'error', ${executions.error})) from ${executions} where ${executions.id} = ${id} and ${executions.status} in ${TERMINAL_STATUSES} on conflict (event_id) do nothing returning ${events.id}`,
      );
      return rowsOf(rows).length > 0;
    },

    async createExecution(input) {
      const [created] = await (input.running ? createRunningQuery : createPendingQuery)().execute({
        id: input.id,
        workflow: input.workflow,
        input: json(input.input ?? {}),
        budgetMicros: input.budgetMicros ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
        startedAt: new Date().toISOString(),
      });
      if (created) return { execution: created, created: true };
      if (!input.idempotencyKey) throw new ConflictError(`execution ${input.id} already exists`);
      const [existing] = await db
        .select()
        .from(executions)
        .where(
          and(eq(executions.workflow, input.workflow), eq(executions.idempotencyKey, input.idempotencyKey)),
        );
      if (!existing) throw new ConflictError(`execution ${input.id} already exists`);
      if (
        canonicalJson(existing.input) !== canonicalJson(input.input ?? {}) ||
        (existing.budgetMicros ?? null) !== (input.budgetMicros ?? null)
      ) {
        throw new ConflictError(
          `idempotencyKey '${input.idempotencyKey}' was already used for execution ${existing.id} with a different input or budget`,
        );
      }
      return { execution: existing, created: false };
    },

    async discardExecution(id) {
      await db
        .delete(executions)
        .where(and(eq(executions.id, id), inArray(executions.status, ['pending', 'running'])));
    },

    async getExecution(id) {
      const [row] = await getExecutionQuery().execute({ id });
      return row;
    },

    async markRunning(id) {
      const upd = db.$with('upd').as(
        db
          .update(executions)
          .set({ status: 'running', startedAt: new Date() })
          .where(and(eq(executions.id, id), eq(executions.status, 'pending')))
          .returning(),
      );
      const ev = outbox(
        'ev',
        sql`${upd.id}`,
        sql`${upd}`,
        sql`${EVENTS.executionStarted}::text`,
        sql`jsonb_build_object('executionId', ${upd.id}, 'workflow', ${upd.workflow})`,
      );
      const [row] = await db.with(upd, ev).select().from(upd);
      return row;
    },

    async finishExecution({ id, status, output, error }, options = {}) {
      const params = {
        id,
        status,
        output: json(output),
        error: json(error),
        finishedAt: new Date().toISOString(),
      };
      const [row] =
        options.endEvent === false
          ? await finishWithoutEventQuery().execute(params)
          : await finishQuery().execute({ ...params, event: executionEndEvent(status) });
      if (row) return { execution: row, changed: true };
      if (options.readExisting === false) return { execution: undefined, changed: false };
      const [existing] = await getExecutionQuery().execute({ id });
      if (!existing) throw new NotFoundError(`execution ${id} not found`);
      return { execution: existing, changed: false };
    },
  };
}
