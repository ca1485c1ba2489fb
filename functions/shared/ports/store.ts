import type { DbConnection } from '../db/connection.ts';
import type { costEntries, events, executions, steps } from '../db/schema.ts';
import type { EventType } from '../events/catalogue.ts';
import type { Micros } from '../money.ts';

/** Execution statuses; the vocabulary of the API, the CLI and the events. */
export const EXECUTION_STATUSES = [
  'pending',
  'running',
  'waiting_approval',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'budget_exceeded',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const TERMINAL_STATUSES: readonly ExecutionStatus[] = [
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'budget_exceeded',
];
export const STEP_STATUSES = ['running', 'succeeded', 'failed'] as const;
/** What a ledger row charges for. */
export const COST_KINDS = ['llm', 'sandbox', 'lambda', 'transition'] as const;
export type CostKind = (typeof COST_KINDS)[number];

export type ExecutionRow = typeof executions.$inferSelect;
export type StepRow = typeof steps.$inferSelect;
export type CostEntryRow = typeof costEntries.$inferSelect;
export type EventRow = typeof events.$inferSelect;

/** A domain event to write to the outbox, in the same transaction as the change it describes. */
export interface NewEvent {
  /** One of the catalogue's types (`events/catalogue.ts`): a type not declared there fails `tsc`. */
  readonly type: EventType;
  readonly payload: Record<string, unknown>;
}

/**
 * What a read of the outbox also returns: its snapshot's xmin and xmax (transaction ids), which tell a gap in the
 * sequence that may still fill from one that never will (functions/shared/events/frontier.ts). Both 0 when the
 * read found no row.
 */
export interface SnapshotBounds {
  readonly xmin: number;
  readonly xmax: number;
}

/**
 * The outbox's head as one snapshot saw it: the highest visible sequence (0 when there is none) and that
 * snapshot's bounds (never 0: they tell whether a lower sequence may still commit).
 */
export interface OutboxHead extends SnapshotBounds {
  readonly head: number;
}

/** A page of the outbox after some id, with the bounds of the snapshot that read it. */
export interface OutboxPage extends SnapshotBounds {
  readonly rows: EventRow[];
}

/** An outbox row as the relay sends it: the payload stays the JSON text the database holds (never parsed). */
export interface RelayEvent {
  readonly id: number;
  readonly eventId: string;
  readonly executionId: string;
  readonly type: string;
  /** Epoch ms of the commit time (`created_at`, truncated to the millisecond). */
  readonly createdAtMs: number;
  readonly payloadJson: string;
}

/** A batch for the relay, with the bounds of the snapshot that read it. */
export interface RelayBatch extends SnapshotBounds {
  readonly events: RelayEvent[];
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
  readonly kind: CostKind;
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
 * One implementation over Drizzle (`store/create-store.ts`) serves every adapter (PGlite, node-postgres,
 * Aurora Data API); the adapters differ only in how they connect (see `db/client.ts`).
 */
/** One hold against an execution's budget: its key (idempotency), amount, and what it is for. */
export interface BudgetHold {
  key: string;
  amountMicros: Micros;
  /** What the hold is for (default `llm`) and where: an unconfirmed row made from it says so. */
  kind?: CostKind;
  stepId?: number | null;
  stateName?: string | null;
  provider?: string | null;
  model?: string | null;
}

/** A hold's answer: taken, or the execution's figures that it did not fit in. */
export type BudgetHoldResult =
  | { ok: true }
  | {
      ok: false;
      budgetMicros: Micros | null;
      costMicros: Micros;
      reservedMicros: Micros;
      /** Above 0 after a charge exceeded its worst case: the run may not spend again. */
      overrunMicros: Micros;
    };

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
    options?: {
      readExisting?: boolean;
      /**
       * Write `execution.<status>` with the change (default). False: the row ends now and its terminal event
       * waits for {@link Store.recordExecutionEnd}, written once the run's last charge is in, so the event a
       * consumer stops at carries the run's final totals (the engine's end projection does this).
       */
      endEvent?: boolean;
    },
  ): Promise<{ execution: ExecutionRow | undefined; changed: boolean }>;
  /**
   * Writes the terminal event (`execution.<status>`, with the row's cost now) of an ended execution that has
   * none yet; false when it has one or has not ended. Call it after the run's last charge.
   */
  recordExecutionEnd(id: string): Promise<boolean>;
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
    /** The compute reservation this charge settles (its amount leaves `reserved` as the charge enters `cost`). */
    reservationKey?: string;
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
      /**
       * Settle every hold of this kind the execution still has (the end-of-run transition charge settles
       * the transition holds its steps took). Never counted as an overrun: the run is over.
       */
      settleHeldKind?: CostKind;
    },
  ): Promise<{ entry: CostEntryRow; created: boolean }>;
  /**
   * Holds `amountMicros` against the execution's budget, atomically: it succeeds only if
   * cost + reserved + amount ≤ budget (always, without a budget). Idempotent per key.
   */
  reserveBudget(input: BudgetHold & { executionId: string }): Promise<BudgetHoldResult>;
  /**
   * Holds several amounts against one execution's budget in one atomic statement, all or none: they
   * succeed only if cost + reserved + their sum ≤ budget. A key already held counts as held (it adds
   * nothing), a settled key makes the whole call fail, as {@link Store.reserveBudget} does for one key.
   * A step's holds of every kind (transitions, compute) cost one round trip instead of one each.
   */
  reserveBudgets(executionId: string, holds: readonly BudgetHold[]): Promise<BudgetHoldResult>;
  /**
   * Turns a still-held reservation into an `unconfirmed` ledger row (`confirmed: false`) at its reserved
   * amount, settling the hold: spend that may have been billed though no usage report confirms it (a
   * call abandoned at the client timeout, a process that died holding it). Idempotent per reservation key:
   * `recorded` is false when the key is not held (settled, released, unknown, or already recorded).
   */
  recordUnconfirmed(reservationKey: string, reason: string): Promise<{ recorded: boolean }>;
  /** The holds an execution still has (key and cost kind), oldest first. */
  listHeldReservations(executionId: string): Promise<{ key: string; kind: CostKind }[]>;
  /** Returns a reservation's amount to the budget (after a failed call). Idempotent. */
  releaseBudget(key: string): Promise<void>;
  /**
   * Lets go of what an execution that will not go on still holds: every reservation is released and
   * every step still `running` ends `failed` with `error` (idempotent). Used when a run is cancelled,
   * including one whose process died with steps in flight. Returns the counts.
   */
  releaseHeld(
    executionId: string,
    error: { error: string; cause: string },
  ): Promise<{ reservations: number; steps: number }>;
  /** The result an activity kept for a state entry, if any. */
  getActivityResult(key: string): Promise<unknown | undefined>;
  appendEvents(executionId: string, events: NewEvent[]): Promise<void>;

  // --- The embedded engine's durable state (infra/local/engine); Step Functions keeps its own on AWS. ---
  /** Every journal record of an execution, by key. */
  readJournal(executionId: string): Promise<Record<string, unknown>>;
  readJournalEntry(executionId: string, key: string): Promise<unknown | undefined>;
  /** Writes (replaces) one journal record. */
  writeJournal(executionId: string, key: string, value: unknown): Promise<void>;
  /** Writes a record only if none exists under the key; false when one did (first writer wins). */
  insertJournalOnce(executionId: string, key: string, value: unknown): Promise<boolean>;
  deleteJournalEntries(executionId: string, keys: readonly string[]): Promise<void>;
  /**
   * Makes `owner` the process that drives a running execution, for `leaseMs`. Without `from`, only when the
   * run has no owner, is already this owner's, or its lease ran out; with `from`, only when `from` (null: no one)
   * owns it now (a compare-and-set, for taking over a run whose owner is known dead). False when not claimed.
   */
  claimExecution(input: {
    id: string;
    owner: string;
    leaseMs: number;
    from?: string | null;
  }): Promise<boolean>;
  /**
   * {@link claimExecution} with `from` for many runs in one statement (a restart taking over what a dead
   * process left): each run is claimed only if its own `from` (null: no one) owns it now. Returns the ids claimed.
   */
  claimExecutions(input: {
    owner: string;
    leaseMs: number;
    runs: readonly { id: string; from: string | null }[];
  }): Promise<string[]>;
  /**
   * What runs whose process died were holding, let go of in two statements for the whole set: each
   * model-call hold becomes unconfirmed spend at its amount (as {@link recordUnconfirmed}, with
   * `unconfirmedReason`), every other hold is released and every step still `running` ends failed with
   * its run's `error` (as {@link releaseHeld}), and each run gets `execution.resumed` naming its previous owner.
   */
  settleInterruptedRuns(
    runs: readonly {
      executionId: string;
      previousOwner: string | null;
      error: { error: string; cause: string };
    }[],
    unconfirmedReason: string,
  ): Promise<{ unconfirmed: number; reservations: number; steps: number }>;
  /** {@link readJournal} for many executions in one statement; every id asked for is in the map. */
  readJournals(executionIds: readonly string[]): Promise<Map<string, Record<string, unknown>>>;
  /** {@link writeJournal} for many records in one statement (the last value of a repeated key wins). */
  writeJournals(entries: readonly { executionId: string; key: string; value: unknown }[]): Promise<void>;
  /** Extends every lease `owner` holds on runs still driven; returns how many. */
  renewLeases(owner: string, leaseMs: number): Promise<number>;
  /** Driven runs (running, waiting for approval) that `owner` does not own, oldest first. */
  listUnowned(query: { owner: string; limit: number }): Promise<
    {
      id: string;
      workflow: string;
      input: unknown;
      owner: string | null;
      leaseExpiresAt: Date | null;
      createdAt: Date;
      leaseExpired: boolean;
    }[]
  >;
  /**
   * A failed, timed-out or cancelled execution back to running for a redrive (`execution.redriven`, its
   * redrive count + 1). Undefined when it is in no state to redrive (or does not exist).
   */
  redriveExecution(id: string, savedMicros: number): Promise<ExecutionRow | undefined>;
  listSteps(executionId: string): Promise<StepRow[]>;
  listCosts(executionId: string): Promise<CostEntryRow[]>;
  listEvents(executionId: string, after: number, limit: number): Promise<EventRow[]>;
  /**
   * The highest visible outbox sequence with the bounds of the snapshot that saw it (one statement): where the SSE
   * hub starts, once a later snapshot proves that nothing below it can still commit.
   */
  outboxHead(): Promise<OutboxHead>;
  /**
   * Every execution's outbox rows after sequence `after`, oldest first (an index range scan on the primary key),
   * with the bounds of the snapshot the page was read in (one statement): what the SSE hub
   * (functions/api/event-hub.ts) reads once for all its streams, passing a gap in the sequence only once it is
   * final.
   */
  readOutbox(after: number, limit: number): Promise<OutboxPage>;
  /**
   * The relay's next batch: up to `limit` outbox rows after id `after`, oldest first, in the compact form it
   * publishes, with the bounds of the snapshot that read them (functions/shared/events/relay.ts).
   */
  readRelayBatch(after: number, limit: number): Promise<RelayBatch>;
  /** Where the relay `name` stands: every event up to this id has been published (0 before its first batch). */
  relayCursor(name: string): Promise<number>;
  /** Moves the relay `name` to `lastId` (never backwards: a stale relay cannot rewind another's progress). */
  advanceRelayCursor(name: string, lastId: number): Promise<void>;
  close(): Promise<void>;
}
