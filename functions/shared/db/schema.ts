import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { COST_KINDS, EXECUTION_STATUSES, STEP_STATUSES } from '../ports/store.ts';

// Status and kind columns are text with CHECK constraints rather than Postgres enums: the Aurora Data API
// sends string parameters typed as text, which Postgres will not assign to an enum column without a cast.
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired'] as const;
export const RESERVATION_STATUSES = ['reserved', 'settled', 'released'] as const;
const oneOf = (column: { name: string }, values: readonly string[]) =>
  sql.raw(`"${column.name}" IN (${values.map((v) => `'${v}'`).join(', ')})`);

/**
 * Builds a table where it is declared. Every call is marked pure, so a Lambda bundle keeps only the tables its
 * code names: esbuild drops the others (a bare `pgTable(...)` call, or its column builders, it must keep, not
 * knowing they have no side effects), and their columns are not built at its cold start. drizzle-kit and every
 * importer see the same tables.
 */
function table<T>(build: () => T): T {
  return build();
}

/** Money columns are integer micro-dollars (bigint, read back as JS numbers: safe up to $9 billion). */
const micros = (name: string) => bigint(name, { mode: 'number' });

export const executions = /* @__PURE__ */ table(() =>
  pgTable(
    'executions',
    {
      id: text('id').primaryKey(),
      workflow: text('workflow').notNull(),
      status: text('status', { enum: EXECUTION_STATUSES }).notNull().default('pending'),
      input: jsonb('input').notNull(),
      output: jsonb('output'),
      error: jsonb('error'),
      budgetMicros: micros('budget_micros'),
      reservedMicros: micros('reserved_micros').notNull().default(0),
      costMicros: micros('cost_micros').notNull().default(0),
      savedMicros: micros('saved_micros').notNull().default(0),
      /**
       * What charges settled above their reservation's worst case (a provider reporting more than it was
       * allowed): counted in `cost_micros` as reported, and while it is above 0 no new reservation fits.
       */
      overrunMicros: micros('overrun_micros').notNull().default(0),
      idempotencyKey: text('idempotency_key'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
      finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
      /** Embedded engine: the live process that drives the run (null on AWS, where Step Functions does). */
      owner: text('owner'),
      /** Embedded engine: until when the owner's claim holds; a run past it is taken over by a live process. */
      leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true, mode: 'date' }),
      /** How many times the run was redriven (RedriveExecution on AWS, replay over kept results locally). */
      redriveCount: integer('redrive_count').notNull().default(0),
    },
    (t) => [
      uniqueIndex('executions_workflow_idempotency_key').on(t.workflow, t.idempotencyKey),
      index('executions_created_at').on(t.createdAt.desc(), t.id.desc()),
      index('executions_status').on(t.status),
      check('executions_status_valid', oneOf(t.status, EXECUTION_STATUSES)),
      check('executions_budget_non_negative', sql`${t.budgetMicros} IS NULL OR ${t.budgetMicros} >= 0`),
      check('executions_reserved_non_negative', sql`${t.reservedMicros} >= 0`),
    ],
  ),
);

export const steps = /* @__PURE__ */ table(() =>
  pgTable(
    'steps',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      stateName: text('state_name').notNull(),
      activity: text('activity').notNull(),
      /** When Step Functions entered the state; shared by all attempts of one entry. */
      enteredAt: timestamp('entered_at', { withTimezone: true, mode: 'string', precision: 3 }).notNull(),
      /** Map iteration discriminator ('' outside a Map): iterations may share an EnteredTime. */
      item: text('item').notNull().default(''),
      attempt: integer('attempt').notNull(),
      status: text('status', { enum: STEP_STATUSES }).notNull().default('running'),
      startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
      durationMs: integer('duration_ms'),
      error: jsonb('error'),
      costMicros: micros('cost_micros').notNull().default(0),
    },
    (t) => [
      uniqueIndex('steps_entry_item_attempt').on(t.executionId, t.stateName, t.enteredAt, t.item, t.attempt),
      index('steps_execution').on(t.executionId, t.id),
      check('steps_status_valid', oneOf(t.status, STEP_STATUSES)),
    ],
  ),
);

export const costEntries = /* @__PURE__ */ table(() =>
  pgTable(
    'cost_entries',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      stepId: bigint('step_id', { mode: 'number' }).references(() => steps.id, { onDelete: 'set null' }),
      stateName: text('state_name'),
      kind: text('kind', { enum: COST_KINDS }).notNull(),
      provider: text('provider'),
      model: text('model'),
      tokensIn: integer('tokens_in').notNull().default(0),
      tokensOut: integer('tokens_out').notNull().default(0),
      tokensCached: integer('tokens_cached').notNull().default(0),
      usdMicros: micros('usd_micros').notNull(),
      savedMicros: micros('saved_micros').notNull().default(0),
      /** Makes a retried write of the same charge a no-op (execution/state/entered-time scoped). */
      idempotencyKey: text('idempotency_key'),
      /**
       * False for spend no usage report confirms (a call abandoned at the client timeout, a reservation its
       * process died holding): charged at its worst case, since the provider may have billed it.
       */
      confirmed: boolean('confirmed').notNull().default(true),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [
      index('cost_entries_execution').on(t.executionId, t.id),
      uniqueIndex('cost_entries_idempotency_key').on(t.idempotencyKey),
      check('cost_entries_kind_valid', oneOf(t.kind, COST_KINDS)),
      check('cost_entries_usd_non_negative', sql`${t.usdMicros} >= 0 AND ${t.savedMicros} >= 0`),
    ],
  ),
);

export const approvals = /* @__PURE__ */ table(() =>
  pgTable(
    'approvals',
    {
      id: text('id').primaryKey(),
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      stateName: text('state_name').notNull(),
      status: text('status', { enum: APPROVAL_STATUSES }).notNull().default('pending'),
      /** What is asked: title, summary, the payload to approve, a link. */
      prompt: jsonb('prompt').notNull(),
      /** Who may decide: principals (IAM ARNs, local user names) and roles, as `{ principals, roles }`. */
      approvers: jsonb('approvers').notNull().default(sql`'{"principals":[],"roles":[]}'::jsonb`),
      /** The Step Functions task token the decision resumes (`$$.Task.Token`). */
      taskToken: text('task_token').notNull().default(''),
      /** One request per state entry: a retried approval-request finds the row it already wrote. */
      entryKey: text('entry_key'),
      decision: jsonb('decision'),
      decidedBy: text('decided_by'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
      expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
      decidedAt: timestamp('decided_at', { withTimezone: true, mode: 'date' }),
    },
    (t) => [
      index('approvals_execution').on(t.executionId),
      index('approvals_status').on(t.status, t.createdAt),
      uniqueIndex('approvals_entry_key').on(t.entryKey),
      check('approvals_status_valid', oneOf(t.status, APPROVAL_STATUSES)),
    ],
  ),
);

/**
 * Transactional outbox: written with the state change it describes, relayed to Kafka later. The relay's position
 * is one row of `relay_cursor`, not a mark per row. Migration 0002 makes the id default take the transaction id
 * before the sequence value (`pg_current_xact_id()` first), so a transaction that holds an id not yet visible is
 * always one a snapshot can see running: what lets readers tell a gap that may still fill from one that never will
 * (functions/shared/events/frontier.ts).
 */
export const events = /* @__PURE__ */ table(() =>
  pgTable(
    'events',
    {
      id: bigserial('id', { mode: 'number' }).primaryKey(),
      eventId: text('event_id').notNull().default(sql`gen_random_uuid()::text`),
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      type: text('type').notNull(),
      payload: jsonb('payload').notNull(),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [index('events_execution').on(t.executionId, t.id), uniqueIndex('events_event_id').on(t.eventId)],
  ),
);

/** Where each outbox relay stands: every event with an id at or below `last_id` has been published. */
export const relayCursor = /* @__PURE__ */ table(() =>
  pgTable('relay_cursor', {
    name: text('name').primaryKey(),
    lastId: bigint('last_id', { mode: 'number' }).notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  }),
);

/**
 * Budget reservations: the worst case of a call is held against the execution's budget before it runs,
 * then settled with the actual cost or released on failure. The row makes settle/release idempotent.
 */
export const budgetReservations = /* @__PURE__ */ table(() =>
  pgTable(
    'budget_reservations',
    {
      key: text('key').primaryKey(),
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      amountMicros: micros('amount_micros').notNull(),
      status: text('status', { enum: RESERVATION_STATUSES }).notNull().default('reserved'),
      /** The cost kind held, and where: what an unconfirmed ledger row made from this hold records. */
      kind: text('kind', { enum: COST_KINDS }).notNull().default('llm'),
      stepId: bigint('step_id', { mode: 'number' }),
      stateName: text('state_name'),
      provider: text('provider'),
      model: text('model'),
      createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [
      index('budget_reservations_execution').on(t.executionId),
      check('budget_reservations_amount_non_negative', sql`${t.amountMicros} >= 0`),
      check('budget_reservations_status_valid', oneOf(t.status, RESERVATION_STATUSES)),
      check('budget_reservations_kind_valid', oneOf(t.kind, COST_KINDS)),
    ],
  ),
);

/**
 * The first result of an activity for one state entry (execution, state, entered time): a retried
 * invocation returns it instead of calling the model and paying again.
 */
export const activityResults = /* @__PURE__ */ table(() =>
  pgTable('activity_results', {
    key: text('key').primaryKey(),
    executionId: text('execution_id')
      .notNull()
      .references(() => executions.id, { onDelete: 'cascade' }),
    result: jsonb('result').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  }),
);

/** The embedded response cache (PGlite in-process, or PostgreSQL when no Redis/Valkey is configured). */
export const cacheEntries = /* @__PURE__ */ table(() =>
  pgTable(
    'cache_entries',
    {
      key: text('key').primaryKey(),
      value: text('value').notNull(),
      expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    },
    (t) => [index('cache_entries_expires_at').on(t.expiresAt)],
  ),
);

/**
 * The store's lock adapter: one row per lock name, kept after release so `fencing_token` (bumped on every
 * grant) only ever grows for that name. A lock is held while `owner` is set and `expires_at` is in the future.
 */
export const locks = /* @__PURE__ */ table(() =>
  pgTable('locks', {
    name: text('name').primaryKey(),
    owner: text('owner'),
    fencingToken: bigint('fencing_token', { mode: 'number' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date', precision: 3 }).notNull(),
  }),
);

/**
 * A resource wflo owns that only the newest lock holder may write: each write carries its fencing token, and
 * one older than the newest the document has seen is refused (a stale holder after its lock expired).
 */
export const fencedDocuments = /* @__PURE__ */ table(() =>
  pgTable('fenced_documents', {
    name: text('name').primaryKey(),
    content: jsonb('content').notNull(),
    fencingToken: bigint('fencing_token', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  }),
);

export const schema = {
  executions,
  steps,
  costEntries,
  approvals,
  events,
  relayCursor,
  budgetReservations,
  activityResults,
  cacheEntries,
  locks,
  fencedDocuments,
};

/**
 * The embedded engine's journal (infra/local/engine/interpreter/journal.ts): per execution, the records a replay
 * needs (Task/Map/Parallel entries with their results, Wait deadlines, callback answers), keyed by position in
 * the run. Unused on AWS, where Step Functions keeps the execution history.
 */
export const engineJournal = /* @__PURE__ */ table(() =>
  pgTable(
    'engine_journal',
    {
      executionId: text('execution_id')
        .notNull()
        .references(() => executions.id, { onDelete: 'cascade' }),
      key: text('key').notNull(),
      value: jsonb('value').notNull(),
      updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    },
    (t) => [primaryKey({ columns: [t.executionId, t.key] })],
  ),
);
