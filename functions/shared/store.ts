import { and, asc, desc, eq, gt, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
import type { PgPreparedQuery, PreparedQueryConfig } from 'drizzle-orm/pg-core';
import type { DbConnection, WfloDb } from './db/connection.ts';
import {
  activityResults,
  budgetReservations,
  costEntries,
  type ExecutionStatus,
  events,
  executions,
  steps,
  TERMINAL_STATUSES,
} from './db/schema.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import type { Micros } from './money.ts';

export type ExecutionRow = typeof executions.$inferSelect;
export type StepRow = typeof steps.$inferSelect;
export type CostEntryRow = typeof costEntries.$inferSelect;
export type EventRow = typeof events.$inferSelect;

/** A domain event to write to the outbox, in the same transaction as the change it describes. */
export interface NewEvent {
  readonly type: string;
  readonly payload: Record<string, unknown>;
}

export interface NewExecution {
  readonly id: string;
  readonly workflow: string;
  readonly input: unknown;
  readonly budgetMicros?: Micros | null;
  readonly idempotencyKey?: string | null;
  /** Create it already running (the engine is about to start it): one statement, both events. */
  readonly running?: boolean;
}

export interface StepEntry {
  readonly executionId: string;
  readonly stateName: string;
  readonly activity: string;
  /** ISO timestamp of the state entry (`$$.State.EnteredTime`). */
  readonly enteredAt: string;
  /** Map iteration discriminator ('' or absent outside a Map). */
  readonly item?: string;
  /** `$$.State.RetryCount`: 0 for the first attempt. */
  readonly attempt: number;
}

export interface NewCostEntry {
  readonly executionId: string;
  readonly stepId?: number | null;
  readonly stateName?: string | null;
  readonly kind: 'llm' | 'sandbox' | 'lambda' | 'transition';
  readonly provider?: string | null;
  readonly model?: string | null;
  readonly tokensIn?: number;
  readonly tokensOut?: number;
  readonly tokensCached?: number;
  readonly usdMicros: Micros;
  readonly savedMicros?: Micros;
  readonly idempotencyKey?: string | null;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | undefined;
}

/**
 * The store port: everything wflo persists about executions, steps, costs and events.
 * One implementation over Drizzle serves every adapter (PGlite, node-postgres, Aurora Data API);
 * the adapters differ only in how they connect (see `db/client.ts`).
 */
export interface Store {
  readonly kind: DbConnection['kind'];
  /** Creates an execution, or returns the existing one for the same (workflow, idempotencyKey). */
  createExecution(input: NewExecution): Promise<{ execution: ExecutionRow; created: boolean }>;
  /** Deletes an execution the engine refused to start (pending or just marked running), with its rows. */
  discardExecution(id: string): Promise<void>;
  getExecution(id: string): Promise<ExecutionRow | undefined>;
  listExecutions(query: {
    workflow?: string | undefined;
    status?: ExecutionStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<Page<ExecutionRow>>;
  /**
   * Executions still in one of `statuses` that were created before `createdBefore`, oldest first (then by id),
   * at most `limit`, starting after the `after` row (keyset paging). For the reconciler that finds runs whose
   * end was never recorded; `executions_created_at` and `executions_status` keep it an index scan.
   */
  listStaleExecutions(query: {
    statuses: readonly ExecutionStatus[];
    createdBefore: Date;
    limit: number;
    after?: { createdAt: Date; id: string } | undefined;
  }): Promise<ExecutionRow[]>;
  /** pending → running, with `execution.started`; returns the updated row, or undefined when already past pending. */
  markRunning(id: string): Promise<ExecutionRow | undefined>;
  /**
   * Moves a non-terminal execution to a terminal status with output/error and `execution.<status>`.
   * Returns the row; a second call for an already finished execution changes nothing (and, with
   * `readExisting: false`, costs no second query).
   */
  finishExecution(
    input: {
      id: string;
      status: ExecutionStatus;
      output?: unknown;
      error?: { error: string; cause?: string } | null;
    },
    options?: { readExisting?: boolean },
  ): Promise<{ execution: ExecutionRow | undefined; changed: boolean }>;
  /** Records the start of one attempt of a step (idempotent per entry+attempt). */
  /**
   * Records the start of one attempt of a step (idempotent per entry+item+attempt). With `keptResultKey`,
   * the same statement also reads the result an earlier attempt of this entry kept (`kept`), so a retry
   * can be answered without running the activity again.
   */
  beginStep(entry: StepEntry, options?: { keptResultKey?: string }): Promise<StepRow & { kept?: unknown }>;
  completeStep(input: {
    stepId: number;
    status: 'succeeded' | 'failed';
    durationMs: number;
    error?: { error: string; cause?: string } | null;
    /** The attempt's compute cost (kind `lambda`), charged in the same statement. */
    computeMicros?: Micros;
  }): Promise<void>;
  /**
   * Appends a ledger row and adds it to the execution's (and step's) totals atomically.
   * With an idempotency key, a repeated call returns the first row and charges nothing.
   */
  recordCost(
    entry: NewCostEntry,
    extraEvents?: NewEvent[],
    options?: {
      /** Settle this reservation: its amount leaves `reserved` as the actual cost enters `cost`. */
      reservationKey?: string;
      /** Keep the activity's result under this key, so a retry of the same entry returns it. */
      result?: { key: string; value: unknown };
    },
  ): Promise<{ entry: CostEntryRow; created: boolean }>;
  /**
   * Holds `amountMicros` against the execution's budget, atomically: it succeeds only if
   * cost + reserved + amount ≤ budget (always, without a budget). Idempotent per key.
   */
  reserveBudget(input: {
    key: string;
    executionId: string;
    amountMicros: Micros;
  }): Promise<
    { ok: true } | { ok: false; budgetMicros: Micros | null; costMicros: Micros; reservedMicros: Micros }
  >;
  /** Returns a reservation's amount to the budget (after a failed call). Idempotent. */
  releaseBudget(key: string): Promise<void>;
  /**
   * Lets go of what an execution that will not go on still holds: every reservation is released and
   * every step still `running` ends `failed` with `error` (one statement each, idempotent). Used when a
   * run is cancelled, including one whose process died with steps in flight. Returns the counts.
   */
  releaseHeld(
    executionId: string,
    error: { error: string; cause: string },
  ): Promise<{ reservations: number; steps: number }>;
  /** The result an activity kept for a state entry, if any. */
  getActivityResult(key: string): Promise<unknown | undefined>;
  appendEvents(executionId: string, events: NewEvent[]): Promise<void>;
  listSteps(executionId: string): Promise<StepRow[]>;
  listCosts(executionId: string): Promise<CostEntryRow[]>;
  listEvents(executionId: string, after: number, limit: number): Promise<EventRow[]>;
  close(): Promise<void>;
}

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

async function insertEvents(db: WfloDb, executionId: string, list: readonly NewEvent[]): Promise<void> {
  if (list.length === 0) return;
  await db.insert(events).values(list.map((e) => ({ executionId, type: e.type, payload: e.payload })));
}

/** A named placeholder: the statement is built once and filled with each call's values. */
const p = (name: string) => sql.placeholder(name);
/** A JSON value as a jsonb parameter (serialised here, so strings, numbers and arrays stay JSON). */
const json = (value: unknown) => (value === undefined || value === null ? null : JSON.stringify(value));

/** Builds a statement on first use and keeps it: drizzle's query building costs more than PGlite running it. */
function once<T extends PreparedQueryConfig>(build: () => PgPreparedQuery<T>): () => PgPreparedQuery<T> {
  let built: PgPreparedQuery<T> | undefined;
  return () => {
    built ??= build();
    return built;
  };
}

/**
 * Builds the store over an open connection. The statements on every step's path are built once with
 * placeholders and prepared by name (`wflo_*`): on PostgreSQL and Aurora each connection plans them
 * once, and PGlite's batching client prepares each text once too.
 */
export function createStore(conn: DbConnection): Store {
  const db = conn.db;

  /**
   * A CTE that writes one outbox row per row of `source`, in the same statement as the change itself:
   * every state change below is a single SQL statement (atomic without a transaction, one round trip —
   * which matters most on the Aurora Data API, where each call is an HTTPS request).
   */
  const outbox = (alias: string, executionId: SQL, from: SQL, type: SQL, payload: SQL) =>
    db
      .$with(alias, { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select ${executionId}, ${type}, ${payload} from ${from} returning id`,
      );

  /** Extra events (a JSON array of type + payload, placeholder `extra`) for every row of `from`. */
  const extraOutbox = (alias: string, executionId: SQL, from: SQL) =>
    db
      .$with(alias, { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select ${executionId}, e.type, e.payload from ${from}, jsonb_to_recordset(${p('extra')}::jsonb) as e(type text, payload jsonb) returning id`,
      );

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
        sql`insert into ${events} (execution_id, type, payload) select ${ins.id}, e.type, case when e.ord = 1 then jsonb_build_object('executionId', ${ins.id}, 'workflow', ${ins.workflow}, 'budgetMicros', ${ins.budgetMicros}) else jsonb_build_object('executionId', ${ins.id}, 'workflow', ${ins.workflow}) end from ${ins} cross join (values (1, 'execution.created'), (2, 'execution.started')) as e(ord, type) where e.ord = 1 or ${ins.status} = 'running' order by e.ord returning id`,
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
  const finishQuery = once(() => {
    const upd = db.$with('upd').as(
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
        .returning(),
    );
    const ev = outbox(
      'ev',
      sql`${upd.id}`,
      sql`${upd}`,
      sql`${p('event')}::text`,
      sql`jsonb_strip_nulls(jsonb_build_object('executionId', ${upd.id}, 'workflow', ${upd.workflow}, 'status', ${upd.status}, 'costMicros', ${upd.costMicros}, 'error', ${upd.error}))`,
    );
    return db.with(upd, ev).select().from(upd).prepare('wflo_finish_execution');
  });

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
      sql`case when ${ins.attempt} > 0 then 'step.retrying' else 'step.started' end`,
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
        .where(eq(steps.id, sql`${p('stepId')}::bigint`))
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
    const totals = db
      .$with('totals', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set cost_micros = ${executions.costMicros} + ${compute} from ${upd} where ${executions.id} = ${upd.executionId} and ${compute} > 0 returning ${executions.id}`,
      );
    return db.with(upd, ev, ledger, totals).select({ id: upd.id }).from(upd).prepare('wflo_complete_step');
  });

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
    const settles = shape.includes('r');
    // Settling a reservation: only when the ledger row was written, so a repeat cannot settle twice.
    const settled = db
      .$with('settled', { amount: sql<number>`amount_micros`.as('amount_micros') })
      .as(
        sql`update ${budgetReservations} set status = 'settled' where ${budgetReservations.key} = ${p('reservationKey')}::text and ${budgetReservations.status} = 'reserved' and exists (select 1 from ${ins}) returning amount_micros`,
      );
    // The totals move in the same statement as the ledger row, so they always equal its sum.
    const totals = db
      .$with('totals', {
        id: sql<string>`id`.as('id'),
        newCost: sql<number>`new_cost`.as('new_cost'),
        delta: sql<number>`delta`.as('delta'),
        budget: sql<number | null>`budget`.as('budget'),
      })
      .as(
        sql`update ${executions} set cost_micros = ${executions.costMicros} + ${ins.usdMicros}, saved_micros = ${executions.savedMicros} + ${ins.savedMicros}, reserved_micros = greatest(0, ${executions.reservedMicros} - ${settles ? sql`coalesce((select sum(amount_micros) from ${settled}), 0)` : sql`0`}) from ${ins} where ${executions.id} = ${ins.executionId} returning ${executions.id} as id, ${executions.costMicros} as new_cost, ${ins.usdMicros} as delta, ${executions.budgetMicros} as budget`,
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
      sql`'cost.recorded'`,
      sql`jsonb_build_object('executionId', ${ins.executionId}, 'costEntryId', ${ins.id}, 'stateName', ${ins.stateName}, 'kind', ${ins.kind}, 'model', ${ins.model}, 'usdMicros', ${ins.usdMicros}, 'savedMicros', ${ins.savedMicros})`,
    );
    const extra = extraOutbox('extra', sql`${ins.executionId}`, sql`${ins}`);
    // budget.warning once per threshold, when this charge crosses it.
    const warn = db
      .$with('warn', { id: sql<number>`id`.as('id') })
      .as(
        sql`insert into ${events} (execution_id, type, payload) select totals.id, 'budget.warning', jsonb_build_object('executionId', totals.id, 'thresholdPercent', p, 'costMicros', totals.new_cost, 'budgetMicros', totals.budget) from ${totals} as totals, unnest(array[50, 75, 90]) as p where totals.budget > 0 and totals.new_cost * 100 >= p * totals.budget and (totals.new_cost - totals.delta) * 100 < p * totals.budget returning id`,
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

  /** Holds an amount against the budget only if it fits, and records the hold under its key. */
  const reserveQuery = once(() => {
    const amount = sql`${p('amount')}::bigint`;
    const key = sql`${p('key')}::text`;
    const upd = db
      .$with('upd', { id: sql<string>`id`.as('id') })
      .as(
        sql`update ${executions} set reserved_micros = ${executions.reservedMicros} + ${amount} where ${executions.id} = ${p('executionId')} and (${executions.budgetMicros} is null or ${executions.costMicros} + ${executions.reservedMicros} + ${amount} <= ${executions.budgetMicros}) and not exists (select 1 from ${budgetReservations} where ${budgetReservations.key} = ${key}) returning ${executions.id} as id`,
      );
    const held = db
      .$with('held', { key: sql<string>`key`.as('key') })
      .as(
        sql`insert into ${budgetReservations} (key, execution_id, amount_micros) select ${key}, upd.id, ${amount} from ${upd} as upd returning key`,
      );
    return db.with(upd, held).select().from(upd).prepare('wflo_reserve_budget');
  });

  const store: Store = {
    kind: conn.kind,

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

    async listExecutions({ workflow, status, limit, cursor }) {
      const conditions = [];
      if (workflow) conditions.push(eq(executions.workflow, workflow));
      if (status) conditions.push(eq(executions.status, status));
      if (cursor) {
        const [at, id] = decodeCursor(cursor);
        conditions.push(
          or(lt(executions.createdAt, at), and(eq(executions.createdAt, at), lt(executions.id, id))),
        );
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
        sql`'execution.started'`,
        sql`jsonb_build_object('executionId', ${upd.id}, 'workflow', ${upd.workflow})`,
      );
      const [row] = await db.with(upd, ev).select().from(upd);
      return row;
    },

    async finishExecution({ id, status, output, error }, options = {}) {
      const [row] = await finishQuery().execute({
        id,
        status,
        event: `execution.${status}`,
        output: json(output),
        error: json(error),
        finishedAt: new Date().toISOString(),
      });
      if (row) return { execution: row, changed: true };
      if (options.readExisting === false) return { execution: undefined, changed: false };
      const [existing] = await getExecutionQuery().execute({ id });
      if (!existing) throw new NotFoundError(`execution ${id} not found`);
      return { execution: existing, changed: false };
    },

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
      const keptBefore = options.keptResultKey
        ? await store.getActivityResult(options.keptResultKey)
        : undefined;
      return keptBefore === undefined ? existing : { ...existing, kept: keptBefore };
    },

    async completeStep({ stepId, status, durationMs, error, computeMicros = 0 }) {
      const [row] = await completeStepQuery().execute({
        stepId,
        status,
        event: `step.${status}`,
        durationMs,
        error: json(error),
        finishedAt: new Date().toISOString(),
        compute: computeMicros,
      });
      if (!row) throw new NotFoundError(`step ${stepId} not found`);
    },

    async recordCost(entry, extraEvents = [], options = {}) {
      const shape = `${options.reservationKey ? 'r' : ''}${extraEvents.length ? 'e' : ''}${options.result ? 'k' : ''}`;
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
        extra: JSON.stringify(extraEvents),
        resultKey: options.result?.key ?? null,
        resultValue: json(options.result?.value),
      });
      if (row) return { entry: row, created: true };
      const [existing] = entry.idempotencyKey
        ? await db.select().from(costEntries).where(eq(costEntries.idempotencyKey, entry.idempotencyKey))
        : [];
      if (!existing) throw new ConflictError('cost entry conflicted but no prior entry was found');
      if (options.reservationKey) await store.releaseBudget(options.reservationKey);
      return { entry: existing, created: false };
    },

    async reserveBudget({ key, executionId, amountMicros }) {
      if (!Number.isSafeInteger(amountMicros) || amountMicros < 0) {
        throw new RangeError('a reservation is a non-negative whole number of micro-dollars');
      }
      const [row] = await reserveQuery().execute({ key, executionId, amount: amountMicros });
      if (row) return { ok: true };
      const [existing] = await db.select().from(budgetReservations).where(eq(budgetReservations.key, key));
      if (existing?.status === 'reserved') return { ok: true };
      const [execution] = await db.select().from(executions).where(eq(executions.id, executionId));
      if (!execution) throw new NotFoundError(`execution ${executionId} not found`);
      return {
        ok: false,
        budgetMicros: execution.budgetMicros,
        costMicros: execution.costMicros,
        reservedMicros: execution.reservedMicros,
      };
    },

    async releaseHeld(executionId, error) {
      const released = await db
        .update(budgetReservations)
        .set({ status: 'released' })
        .where(and(eq(budgetReservations.executionId, executionId), eq(budgetReservations.status, 'reserved')))
        .returning({ key: budgetReservations.key });
      await db.update(executions).set({ reservedMicros: 0 }).where(eq(executions.id, executionId));
      const now = new Date();
      const ended = await db
        .update(steps)
        .set({ status: 'failed', error, finishedAt: now })
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

    async getActivityResult(key) {
      const [row] = await db
        .select({ result: activityResults.result })
        .from(activityResults)
        .where(eq(activityResults.key, key));
      return row?.result;
    },

    async appendEvents(executionId, list) {
      await insertEvents(db, executionId, list);
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

    async listEvents(executionId, after, limit) {
      return db
        .select()
        .from(events)
        .where(and(eq(events.executionId, executionId), gt(events.id, after)))
        .orderBy(asc(events.id))
        .limit(limit);
    },

    close: () => conn.close(),
  };
  return store;
}
