import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { untilWritten } from '#shared/db/retry';
import { ConflictError } from '#shared/errors';
import { type ExecutionEnd, projectExecutionEnd } from '#shared/execution-end';
import { logger } from '#shared/observability';
import type { Store } from '#shared/ports/store';
import { assertQueryLanguage } from '../../workflows/query-language.ts';
import { assertRetryCatchRules } from '../../workflows/retry-rules.ts';
import { StatesError } from './asl/errors.ts';
import { mintToken, TaskCallbackHub } from './callbacks.ts';
import { nestedIntegrations, unknownNestedTargets } from './integrations/nested.ts';
import { AwsIntegrations } from './integrations/resolver.ts';
import { LocalS3, s3Integrations } from './integrations/s3.ts';
import { distributedMapProblems } from './interpreter/distributed-map.ts';
import { Interpreter, type InterpreterClock, type TaskAttempt } from './interpreter/interpreter.ts';
import {
  type DriveRecord,
  JOURNAL_KEYS,
  type Journal,
  openJournal,
  type StepRecord,
} from './interpreter/journal.ts';
import { lambdaContext, TaskError } from './task-rules.ts';
import {
  type ExecutionOutcome,
  type LocalIntegration,
  type LocalOrchestratorOptions,
  PAYLOAD_LIMIT_BYTES,
  type RunHandle,
} from './types.ts';
import {
  type AslDefinition,
  type AslState,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type Workflow,
  walkStates,
} from './workflows.ts';

export { CallbackError } from './callbacks.ts';
export { retryDelayMs } from './task-rules.ts';
export * from './types.ts';

const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const LAMBDA_ARN = /^arn:aws:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$/;
/** Runs in the first batch a restart takes over (see {@link LocalOrchestrator.resume}). */
const FIRST_RESUME_BATCH = 16;
/** setTimeout's ceiling; longer sleeps are taken in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/** Why a drive stopped before its end: a user's cancel, the execution's TimeoutSeconds, or this process closing. */
export class ExecutionAborted extends Error {
  override name = 'ExecutionAborted';
}
export class ExecutionTimedOut extends Error {
  override name = 'States.Timeout';
}
/** This process lets go of the run without ending it; the next process resumes it from its journal. */
class DriveDetached extends Error {
  override name = 'DriveDetached';
}

interface PreparedTask {
  /** `lambda:invoke` integration (result wrapped in `{ Payload, StatusCode }`), a bare function ARN, or a local service integration. */
  readonly integration: 'invoke' | 'arn' | 'service';
  readonly functionArn: string | undefined;
  readonly callback: boolean;
  readonly service?: LocalIntegration;
}

interface PreparedWorkflow {
  readonly workflow: Workflow;
  readonly definition: AslDefinition;
  readonly tasks: ReadonlyMap<AslState, PreparedTask>;
}

const realClock: InterpreterClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      let timer: NodeJS.Timeout;
      const end = Date.now() + ms;
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const arm = () => {
        const left = end - Date.now();
        if (left <= 0) {
          signal.removeEventListener('abort', onAbort);
          return resolve();
        }
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      arm();
    }),
};

/** This process's name as a run owner: host and pid (so a restart on the same host knows a dead owner), plus a nonce. */
export function processOwner(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

/** A run left `running` that no live process drives (see {@link LocalOrchestrator.findOrphans}). */
export type OrphanRun = Awaited<ReturnType<Store['listUnowned']>>[number];

/** True when `owner` names a process on this host that no longer exists. */
export function ownerIsDeadHere(owner: string | null): boolean {
  if (!owner) return false;
  const [host, pidText] = owner.split('/');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Runs `statemachines/*.asl.json` on one machine with wflo's own interpreter (`interpreter/`), binding every
 * Lambda Task to its in-process handler and giving it what Step Functions would: the per-entry `$$`, the
 * `{ Payload, StatusCode }` result, a Lambda-like context, error names for Retry/Catch, per-attempt timeouts
 * and the 256 KiB payload limit. Runs are durable: each one's journal is in the store, so a run whose process
 * died is resumed by the next one (replay over kept results), a failed run can be redriven, and with a shared
 * PostgreSQL each run is leased to one live process.
 */
export class LocalOrchestrator {
  readonly #options: LocalOrchestratorOptions;
  readonly #prepared = new Map<string, PreparedWorkflow>();
  readonly #workflows = new Map<string, Workflow>();
  readonly #running = new Map<string, RunHandle>();
  readonly #controllers = new Map<string, AbortController>();
  readonly #callbacks: TaskCallbackHub;
  readonly #aws: AwsIntegrations;
  readonly #owner: string;
  readonly #leaseMs: number;
  #timers: NodeJS.Timeout[] = [];
  /** The lease renewal in flight (one at a time): close() waits for it, so it cannot land after a let-go. */
  #renewing: Promise<void> | undefined;
  #closed = false;
  /** Aborted when this process lets go of its runs (detachAll/close): ends the retries of end writes. */
  readonly #stopping = new AbortController();

  constructor(options: LocalOrchestratorOptions) {
    const s3 = options.s3 ?? new LocalS3();
    // Built in, as Step Functions has them: nested executions of the workflows served here and the embedded S3.
    // Integrations passed in replace these for the same Resource.
    this.#options = {
      ...options,
      s3,
      integrations: new Map([
        ...s3Integrations(s3),
        ...nestedIntegrations({
          store: options.store,
          hasWorkflow: (name) => this.#prepared.has(name),
          start: (workflow, id, input) => this.start(workflow, id, input),
          running: (id) => this.#running.get(id),
          cancel: (id) => this.cancel(id),
        }),
        ...(options.integrations ?? []),
      ]),
    };
    this.#owner = options.owner ?? processOwner();
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#callbacks = new TaskCallbackHub(options.store);
    this.#aws = options.aws ?? new AwsIntegrations({ store: options.store });
    for (const workflow of options.workflows.values()) this.load(workflow);
  }

  /** The workflows this orchestrator runs, by name. */
  get workflows(): ReadonlyMap<string, Workflow> {
    return this.#workflows;
  }

  /** This process's owner name on the runs it drives. */
  get owner(): string {
    return this.#owner;
  }

  /** SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat for `.waitForTaskToken` Tasks run here. */
  get callbacks(): TaskCallbackHub {
    return this.#callbacks;
  }

  /** The TaskTokenCallbacks port (functions/shared/ports/task-callbacks.ts) over {@link callbacks}. */
  sendTaskSuccess(taskToken: string, output: unknown): Promise<void> {
    return this.#callbacks.sendTaskSuccess(taskToken, output);
  }

  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void> {
    return this.#callbacks.sendTaskFailure(taskToken, error, cause);
  }

  sendTaskHeartbeat(taskToken: string): Promise<void> {
    return this.#callbacks.sendTaskHeartbeat(taskToken);
  }

  /**
   * Serves a workflow from now on, replacing one of the same name (`wflo dev` reloads a changed file). Throws,
   * serving what it did before, when a Task cannot run here. Running executions keep the version they started with.
   */
  load(workflow: Workflow): 'added' | 'updated' {
    // Definitions built in code (tests, the conformance runner) skip checkWorkflow; the rules hold for them too.
    assertQueryLanguage(workflow.file, workflow.definition, { localEngine: true });
    assertRetryCatchRules(workflow.file, workflow.definition);
    const prepared = this.#prepare(workflow);
    this.#checkNestedAndMaps(workflow);
    const kind = this.#workflows.has(workflow.name) ? 'updated' : 'added';
    this.#prepared.set(workflow.name, prepared);
    this.#workflows.set(workflow.name, workflow);
    return kind;
  }

  /**
   * Refuses what the embedded engine cannot run of nested runs and Distributed Maps: a literal StateMachineArn
   * naming no workflow given to this orchestrator (later loads, e.g. `wflo dev` adding files one by one, cannot
   * know the rest yet: there an unknown one fails the Task when it runs), an ItemReader/ResultWriter it cannot read.
   */
  #checkNestedAndMaps(workflow: Workflow): void {
    const known = (name: string) =>
      name === workflow.name || this.#workflows.has(name) || this.#options.workflows.has(name);
    const problems: string[] = [];
    if (this.#options.workflows.has(workflow.name)) {
      for (const t of unknownNestedTargets(workflow.definition, known)) {
        problems.push(`state ${t} starts a workflow that is not loaded`);
      }
    }
    walkStates(workflow.definition, (name, state) => {
      if (state.Type === 'Map')
        for (const p of distributedMapProblems(state)) problems.push(`state '${name}': ${p}`);
    });
    if (problems.length > 0) {
      throw new Error(`${workflow.file}: the local runtime cannot run ${problems.join('; ')}`);
    }
  }

  /** Stops serving a workflow (its file was deleted); running executions finish. False when it was not served. */
  unload(name: string): boolean {
    this.#prepared.delete(name);
    return this.#workflows.delete(name);
  }

  /** Executions being driven by this process. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Starts driving an execution whose row is already written (running); returns at once. With `resume`, the
   * run continues from its journal (a restart or takeover; see {@link resumeOrphans}).
   */
  start(
    workflowName: string,
    executionId: string,
    input: unknown,
    options: { claimed?: boolean; journal?: Record<string, unknown> } = {},
  ): RunHandle {
    const prepared = this.#prepared.get(workflowName);
    if (!prepared) throw new Error(`unknown workflow '${workflowName}'`);
    const existing = this.#running.get(executionId);
    if (existing) return existing;
    const controller = new AbortController();
    const done = this.#drive(
      prepared,
      executionId,
      input,
      controller,
      options.claimed ?? false,
      options.journal,
    )
      .catch((err: unknown): ExecutionOutcome => {
        logger.error('could not record how the execution ended', { executionId, error: err as Error });
        return {
          status: 'failed',
          error: { error: 'States.Runtime', cause: err instanceof Error ? err.message : String(err) },
        };
      })
      .finally(() => {
        this.#running.delete(executionId);
        this.#controllers.delete(executionId);
      });
    this.#controllers.set(executionId, controller);
    const handle: RunHandle = {
      executionId,
      workflow: workflowName,
      done,
      abort: () => controller.abort(new ExecutionAborted('Execution was aborted')),
    };
    this.#running.set(executionId, handle);
    return handle;
  }

  /** Aborts a running execution (→ cancelled). Returns false when it is not running here. */
  cancel(executionId: string): boolean {
    const handle = this.#running.get(executionId);
    if (!handle) return false;
    handle.abort();
    return true;
  }

  /** Waits for every running execution to end. */
  async drain(): Promise<void> {
    await Promise.all([...this.#running.values()].map((h) => h.done));
  }

  /**
   * Resumes the runs no live process drives: on an embedded store (one process per data directory, see
   * data-dir-owner.ts) every run left `running`; on a shared PostgreSQL, runs whose owner's lease ran out or
   * whose owner is a dead process on this host. Each is claimed first (compare-and-set on its owner), its
   * in-flight steps are closed and its reservations released, then it is replayed from its journal.
   * @returns the ids resumed
   */
  async resumeOrphans(options: { exclusive: boolean; limit?: number; batch?: number }): Promise<string[]> {
    return this.resume(await this.findOrphans(options), options);
  }

  /**
   * The runs {@link resumeOrphans} would resume, without touching them. `wflo dev` lists them before it
   * serves (so a run its API accepts is never mistaken for one) and resumes them while it serves.
   */
  async findOrphans(options: { exclusive: boolean; limit?: number }): Promise<OrphanRun[]> {
    const rows = await this.#options.store.listUnowned({
      owner: this.#owner,
      limit: options.limit ?? 10_000,
    });
    return rows.filter((row) => {
      if (this.#running.has(row.id)) return false;
      // A run no one has claimed yet may be one another process's API has just accepted: give it a lease's time.
      const unclaimedTooLong = row.owner === null && Date.now() - row.createdAt.getTime() > this.#leaseMs;
      const orphan =
        options.exclusive ||
        unclaimedTooLong ||
        (row.owner !== null && (row.leaseExpired || ownerIsDeadHere(row.owner)));
      if (!orphan) return false;
      if (!this.#prepared.has(row.workflow)) {
        logger.warn('a run left running belongs to a workflow this process does not serve', {
          executionId: row.id,
          workflow: row.workflow,
        });
        return false;
      }
      return true;
    });
  }

  /**
   * Resumes runs found by {@link findOrphans} in batches of at most `batch` (default 128). A batch is taken
   * over with a handful of statements whatever its size (one backend runs a statement at a time; per run, the
   * claim, hold settling, journal read and rewrite and event took ten, and most of a restart's recovery time):
   * its runs are claimed together (compare-and-set on each run's owner), their holds settled, their in-flight
   * Tasks set to start again, then each is driven from the journal read for the batch. The first batch is small
   * and each next one twice the last: the first runs are driven (their calls sent, their waits begun) after
   * a few milliseconds of take-over instead of after the take-over of a whole large batch, while the number of
   * batches stays logarithmic in the number of runs.
   * @returns the ids resumed (those another process claimed first are left out)
   */
  async resume(rows: readonly OrphanRun[], options: { batch?: number } = {}): Promise<string[]> {
    const most = Math.max(1, options.batch ?? 128);
    const resumed: string[] = [];
    let size = Math.min(most, FIRST_RESUME_BATCH);
    for (let i = 0; i < rows.length && !this.#closed; i += size, size = Math.min(most, size * 2)) {
      resumed.push(...(await this.#resumeBatch(rows.slice(i, i + size))));
    }
    return resumed;
  }

  async #resumeBatch(batch: readonly OrphanRun[]): Promise<string[]> {
    // Closing (Ctrl+C while resuming) or the workflow's file deleted since the runs were listed: left as they are.
    const open = batch.filter(
      (row) => !this.#closed && !this.#running.has(row.id) && this.#prepared.has(row.workflow),
    );
    const store = this.#options.store;
    const claimed = new Set(
      await store.claimExecutions({
        owner: this.#owner,
        leaseMs: this.#leaseMs,
        runs: open.map((row) => ({ id: row.id, from: row.owner })),
      }),
    );
    const rows = open.filter((row) => claimed.has(row.id));
    if (rows.length === 0) return [];
    // The holds and the journals are apart (the runs are claimed and not started yet), so the two go side by
    // side; both end before any run starts.
    const [, journals] = await Promise.all([
      // A model call in flight when the owner died may have been billed: its hold becomes unconfirmed spend at
      // its worst case (the ledger never claims less than may have been paid); other holds are released.
      store.settleInterruptedRuns(
        rows.map((row) => ({
          executionId: row.id,
          previousOwner: row.owner,
          error: {
            error: 'wflo.Interrupted',
            cause: `the process driving this run stopped (${row.owner ?? 'no owner'}); the step is attempted again`,
          },
        })),
        'the process driving the run stopped while this model call was in flight',
      ),
      this.#restartInterrupted(rows.map((row) => row.id)),
    ]);
    for (const row of rows) {
      this.start(row.workflow, row.id, row.input, { claimed: true, journal: journals.get(row.id) ?? {} });
    }
    return rows.map((row) => row.id);
  }

  /**
   * A Task that was running when its process died starts again as its next attempt (`RetryCount` + 1, not
   * counted against its Retry), so its step row, compute hold and model-call reservation are new ones; its
   * entry (EnteredTime, kept result) and its TimeoutSeconds deadline stay. A Task waiting out a retry's
   * back-off, or a callback already handed out, was not running and is left as it is. Returns each run's
   * journal as it now stands (what its drive starts from).
   */
  async #restartInterrupted(executionIds: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const store = this.#options.store;
    const journals = await store.readJournals(executionIds);
    const now = (this.#options.clock ?? realClock).now();
    const rewrites: { executionId: string; key: string; value: StepRecord }[] = [];
    for (const [executionId, journal] of journals) {
      for (const [key, value] of Object.entries(journal)) {
        const record = value as StepRecord;
        if (!key.startsWith('s:') || record.kind !== 'Task' || record.result || record.invoked) continue;
        if (record.nextAt !== undefined && record.nextAt > now) continue;
        const { token: _token, nextAt: _nextAt, ...rest } = record;
        const next = { ...rest, attempt: record.attempt + 1 } satisfies StepRecord;
        rewrites.push({ executionId, key, value: next });
        journal[key] = next;
      }
    }
    await store.writeJournals(rewrites);
    return journals;
  }

  /**
   * Keeps this process's leases alive and, on a shared store, takes over runs whose owner died. Embedded
   * (exclusive) stores only need the first sweep, done by the caller with {@link resumeOrphans}.
   */
  startLeases(options: { sweep: boolean }): void {
    const renew = setInterval(
      () => {
        this.#renewing ??= this.#options.store
          .renewLeases(this.#owner, this.#leaseMs)
          .then(
            () => undefined,
            (err: unknown) => logger.warn('could not renew run leases', { error: err as Error }),
          )
          .finally(() => {
            this.#renewing = undefined;
          });
      },
      Math.max(100, Math.floor(this.#leaseMs / 3)),
    );
    renew.unref();
    this.#timers.push(renew);
    if (!options.sweep) return;
    const sweep = setInterval(
      () => {
        this.resumeOrphans({ exclusive: false }).catch((err: unknown) => {
          logger.warn('could not look for runs to take over', { error: err as Error });
        });
      },
      Math.max(200, Math.floor(this.#leaseMs / 2)),
    );
    sweep.unref();
    this.#timers.push(sweep);
  }

  /**
   * Redrives an execution whose row is already back to running (`redriveExecution` in executions.ts), as
   * RedriveExecution does: what failed the run, and what was cut off with it, is attempted again with its
   * retries counted afresh; every entry that had succeeded (every Map iteration that had) answers from its
   * journal record, so no finished step runs or is paid for again. The execution's timeout counts anew.
   */
  async redrive(executionId: string): Promise<void> {
    const store = this.#options.store;
    const row = await store.getExecution(executionId);
    if (!row || !this.#prepared.has(row.workflow)) {
      throw new ConflictError(`execution '${executionId}' belongs to no workflow this process serves`);
    }
    const journal = await store.readJournal(executionId);
    for (const [key, value] of Object.entries(journal)) {
      const record = value as StepRecord;
      if (!key.startsWith('s:')) continue;
      if (!record.result || (!record.result.ok && !record.result.caught)) {
        await store.writeJournal(executionId, key, {
          enteredTime: record.enteredTime,
          attempt: record.attempt,
          counts: record.counts.map(() => 0),
        } satisfies StepRecord);
      }
    }
    const drive = journal[JOURNAL_KEYS.drive] as DriveRecord | undefined;
    await store.writeJournal(executionId, JOURNAL_KEYS.drive, {
      startedAt: Date.now(),
      redrives: row.redriveCount,
      transitionsCharged: drive?.transitionsCharged ?? 0,
    } satisfies DriveRecord);
    this.start(row.workflow, executionId, row.input);
  }

  /**
   * Lets go of every run this process drives without ending it, as a process that stops would (a clean
   * `wflo dev` stop does this instead of waiting for long Waits): each keeps its journal and stays running
   * with no owner, and the next process resumes it. Resolves once every drive has stopped.
   */
  async detachAll(): Promise<number> {
    const handles = [...this.#running.values()];
    this.#stopping.abort(new DriveDetached('process stopping'));
    for (const h of handles)
      this.#controllers.get(h.executionId)?.abort(new DriveDetached('process stopping'));
    await Promise.all(handles.map((h) => h.done));
    await Promise.all(
      handles.map((h) =>
        this.#options.store
          .claimExecution({ id: h.executionId, owner: this.#owner, leaseMs: 1 })
          .catch(() => false),
      ),
    );
    return handles.length;
  }

  /** Stops the lease timers and waits for a renewal in flight (the runs still driven keep their leases until they lapse). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort(new DriveDetached('process stopping'));
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    // A renewal nobody awaited could otherwise land after detachAll lets the runs go and lease them again (the
    // embedded store's group commit runs the most recently answered callers' statements first).
    await this.#renewing;
  }

  async #drive(
    prepared: PreparedWorkflow,
    executionId: string,
    input: unknown,
    controller: AbortController,
    claimed: boolean,
    loaded?: Record<string, unknown>,
  ): Promise<ExecutionOutcome> {
    const store = this.#options.store;
    const workflowName = prepared.workflow.name;
    if (!claimed) {
      const ok = await store.claimExecution({ id: executionId, owner: this.#owner, leaseMs: this.#leaseMs });
      if (!ok) throw new Error(`execution ${executionId} is driven by another process`);
    }
    const journal: Journal =
      this.#options.durable === false ? memoryJournal() : await openJournal(store, executionId, loaded);
    let drive = journal.read<DriveRecord>(JOURNAL_KEYS.drive);
    if (!drive) {
      drive = { startedAt: Date.now(), redrives: 0, transitionsCharged: 0 };
      await journal.write(JOURNAL_KEYS.drive, drive);
    }
    const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${workflowName}`;
    let transitions = 0;
    const interpreter = new Interpreter({
      definition: prepared.definition,
      executionId,
      context: {
        Execution: {
          Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${workflowName}:${executionId}`,
          Name: executionId,
          Input: input,
          StartTime: new Date(drive.startedAt).toISOString(),
          RedriveCount: drive.redrives,
        },
        StateMachine: { Id: stateMachineArn, Name: workflowName },
      },
      journal,
      signal: controller.signal,
      clock: this.#options.clock ?? realClock,
      s3: this.#options.s3,
      retryIntervalScale: this.#options.retryIntervalScale ?? 1,
      onStateEntered: () => {
        transitions++;
      },
      isCallback: (state) => prepared.tasks.get(state)?.callback ?? false,
      newToken: (path, attempt) => mintToken({ executionId, path, attempt }),
      runTask: (attempt) => this.#runTask(prepared, executionId, workflowName, attempt),
      awaitCallback: (attempt) =>
        this.#callbacks.wait({
          executionId,
          path: attempt.path,
          attempt: attempt.attempt,
          token: attempt.token,
          deadlineAt: attempt.deadlineAt,
          heartbeatSeconds: attempt.heartbeatSeconds,
          signal: attempt.signal,
        }),
    });
    // The execution's own TimeoutSeconds counts from the start of this drive (a restart keeps it).
    let timer: NodeJS.Timeout | undefined;
    const limit = prepared.definition.TimeoutSeconds;
    if (typeof limit === 'number') {
      const left = drive.startedAt + limit * 1000 - Date.now();
      const fire = () => controller.abort(new ExecutionTimedOut('Execution timed out'));
      if (left <= 0) fire();
      else timer = setTimeout(fire, Math.min(left, MAX_TIMER_MS));
    }
    let outcome: ExecutionEnd & ExecutionOutcome;
    try {
      const output = await interpreter.run(input);
      outcome = { status: 'succeeded', output };
    } catch (err) {
      outcome = outcomeOf(err);
    } finally {
      clearTimeout(timer);
    }
    // Detached: the run goes on in the next process; nothing about its end is true yet.
    if (controller.signal.reason instanceof DriveDetached) return { status: 'running' };
    const added = Math.max(0, transitions - drive.transitionsCharged);
    // The run has ended; its row must say so. A store outage here (a PostgreSQL restart) is waited out, not
    // dropped: a dropped end left the run `running`, its holds held, with its live owner never looking at it
    // again. Both writes are idempotent (the row ends once, the transitions' idempotency key, one terminal
    // event), so a retry after a half-done attempt changes nothing twice. A process that stops meanwhile leaves
    // the run to the next one, which replays it from its journal to this same end.
    const stopping = this.#stopping.signal;
    const clock = this.#options.clock ?? realClock;
    try {
      await untilWritten(
        async () => {
          await projectExecutionEnd(store, executionId, outcome, added, drive.redrives);
          await journal.write(JOURNAL_KEYS.drive, {
            ...drive,
            transitionsCharged: drive.transitionsCharged + added,
          });
        },
        { signal: stopping, sleep: (ms) => clock.sleep(ms, stopping).catch(() => undefined) },
      );
    } catch (err) {
      if (stopping.aborted) return { status: 'running' };
      throw err;
    }
    return outcome;
  }

  /**
   * Resolves every Task of a workflow. A Task whose resource cannot run here refuses the whole file, naming the
   * state, the integration and why, when a run can reach it normally (from StartAt through Next, Choices and
   * Default); one reachable only through a Catch (or not at all) is loaded, and a run that gets there fails
   * with `States.Runtime` naming the same, so a failure handler the local runtime cannot serve does not keep
   * the rest of the workflow from running.
   */
  #prepare(workflow: Workflow): PreparedWorkflow {
    const definition = structuredClone(workflow.definition) as AslDefinition;
    const tasks = new Map<AslState, PreparedTask>();
    const normal = new Set(normallyReachable(definition));
    const refused: string[] = [];
    walkStates(definition, (stateName, state) => {
      if (state.Type !== 'Task') return;
      const task = this.#prepareTask(stateName, state);
      if (typeof task !== 'string') {
        tasks.set(state, task);
        return;
      }
      const why = `state '${stateName}': integration '${state.Resource}' cannot run locally: ${task}`;
      if (normal.has(stateName)) {
        refused.push(why);
        return;
      }
      tasks.set(state, {
        integration: 'service',
        functionArn: undefined,
        callback: false,
        service: async () => {
          throw new StatesError('States.Runtime', `the local runtime cannot run ${why}`);
        },
      });
    });
    if (refused.length > 0) {
      throw new Error(`${workflow.file}: the local runtime cannot run ${refused.join('; ')}`);
    }
    return { workflow, definition, tasks };
  }

  /** What runs a Task, or why nothing here can (a sentence naming the reason). */
  #prepareTask(stateName: string, state: AslState): PreparedTask | string {
    const resource = state.Resource ?? '';
    const invoke = LAMBDA_INVOKE.exec(resource);
    if (invoke) {
      const fn = state.Parameters?.FunctionName;
      if (typeof fn === 'string' && !this.#options.functions.has(fn)) {
        throw new Error(`state '${stateName}' invokes ${fn}, which no local handler serves`);
      }
      return {
        integration: 'invoke',
        functionArn: typeof fn === 'string' ? fn : undefined,
        callback: !!invoke[1],
      };
    }
    const exact = this.#options.integrations?.get(resource);
    // AWS service integrations: a configured endpoint, else the exact local integration, else an embedded one.
    const aws = this.#aws.resolve(resource, exact);
    if (aws) {
      if (!aws.ok) return aws.reason;
      return {
        integration: 'service',
        functionArn: undefined,
        service: aws.integration,
        callback: aws.callback,
      };
    }
    if (exact) {
      return {
        integration: 'service',
        functionArn: undefined,
        service: exact,
        callback: resource.endsWith('.waitForTaskToken'),
      };
    }
    if (LAMBDA_ARN.test(resource)) {
      if (!this.#options.functions.has(resource)) {
        throw new Error(`state '${stateName}' invokes ${resource}, which no local handler serves`);
      }
      return { integration: 'arn', functionArn: resource, callback: false };
    }
    return 'the local runtime has no stand-in for this resource';
  }

  async #runTask(
    prepared: PreparedWorkflow,
    executionId: string,
    workflow: string,
    attempt: TaskAttempt,
  ): Promise<unknown> {
    const task = prepared.tasks.get(attempt.state);
    if (!task) throw new StatesError('States.Runtime', `state '${attempt.stateName}' has no local resource`);
    if (task.integration === 'service') return this.#service(task, executionId, workflow, attempt);
    return this.#lambda(task, attempt);
  }

  async #service(
    task: PreparedTask,
    executionId: string,
    workflow: string,
    attempt: TaskAttempt,
  ): Promise<unknown> {
    const controller = new AbortController();
    // The reason goes on: an integration that manages something (a nested run) tells a stop from a detach.
    const onCancel = () => controller.abort(attempt.signal.reason);
    attempt.signal.addEventListener('abort', onCancel, { once: true });
    if (attempt.signal.aborted) controller.abort(attempt.signal.reason);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (attempt.deadlineAt === undefined) return;
      timer = setTimeout(
        () => {
          // Reject first: the race is decided before the integration reacts to the abort.
          reject(
            new TaskError(
              'States.Timeout',
              `State timed out after ${attempt.state.TimeoutSeconds ?? 'its'} seconds`,
            ),
          );
          controller.abort();
        },
        Math.min(Math.max(0, attempt.deadlineAt - Date.now()), MAX_TIMER_MS),
      );
    });
    try {
      return await Promise.race([
        task.service!(attempt.params, {
          executionId,
          workflow,
          stateName: attempt.stateName,
          enteredTime: attempt.enteredTime,
          attempt: attempt.attempt,
          path: attempt.path,
          signal: controller.signal,
        }),
        timeout,
      ]);
    } catch (err) {
      if (err instanceof TaskError) throw err;
      const e = err instanceof Error ? err : new Error(String(err));
      throw new TaskError(e.name, e.message);
    } finally {
      clearTimeout(timer);
      attempt.signal.removeEventListener('abort', onCancel);
    }
  }

  async #lambda(task: PreparedTask, attempt: TaskAttempt): Promise<unknown> {
    const invoke = task.integration === 'invoke';
    const p = (attempt.params ?? {}) as { FunctionName?: unknown; Payload?: unknown };
    const functionArn = invoke ? String(p.FunctionName) : task.functionArn!;
    const fn = this.#options.functions.get(functionArn);
    if (!fn) throw new TaskError('Lambda.ResourceNotFoundException', `Function not found: ${functionArn}`);
    // A Lambda receives JSON, never shared objects.
    const event = JSON.parse(JSON.stringify((invoke ? p.Payload : attempt.params) ?? {}));
    const stateLeft =
      attempt.deadlineAt === undefined ? Number.POSITIVE_INFINITY : attempt.deadlineAt - Date.now();
    const lambdaMs = fn.activity.timeoutSeconds * 1000;
    const lambdaTimedOut = lambdaMs <= stateLeft;
    const timeoutMs = Math.max(0, Math.min(stateLeft, lambdaMs));
    const deadline = Date.now() + timeoutMs;
    const context = lambdaContext(fn.activity, functionArn, deadline);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            lambdaTimedOut
              ? new TaskError('Sandbox.Timedout', `Task timed out after ${lambdaMs / 1000} seconds`)
              : new TaskError(
                  'States.Timeout',
                  `State timed out after ${attempt.state.TimeoutSeconds ?? 'its'} seconds`,
                ),
          ),
        timeoutMs,
      );
    });
    let result: unknown;
    try {
      result = await Promise.race([fn.handler(event, context), timeout]);
    } catch (err) {
      if (err instanceof TaskError) throw err;
      const e = err instanceof Error ? err : new Error(String(err));
      throw new TaskError(e.name, JSON.stringify({ errorType: e.name, errorMessage: e.message }));
    } finally {
      clearTimeout(timer);
    }
    const json = JSON.stringify(result ?? null);
    if (Buffer.byteLength(json, 'utf8') > PAYLOAD_LIMIT_BYTES) {
      throw new TaskError(
        'States.DataLimitExceeded',
        `The state/task '${attempt.stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
      );
    }
    const value = JSON.parse(json) as unknown;
    return invoke
      ? {
          ExecutedVersion: '$LATEST',
          Payload: value,
          StatusCode: 200,
          SdkHttpMetadata: { HttpStatusCode: 200 },
        }
      : value;
  }
}

/**
 * The states a run enters without an error: from each StartAt through Next, Choice rules and Default (not
 * Catch), and the same inside the Map processors and Parallel branches of those states.
 */
function normallyReachable(definition: AslDefinition): string[] {
  const seen: string[] = [];
  const visit = (def: AslDefinition): void => {
    const queue = [def.StartAt];
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const state = def.States?.[name];
      if (!state || seen.includes(name)) continue;
      seen.push(name);
      for (const nested of [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])]) {
        if (nested) visit(nested);
      }
      const next = [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next)];
      queue.push(...next.filter((t): t is string => typeof t === 'string'));
    }
  };
  visit(definition);
  return seen;
}

function memoryJournal(): Journal {
  const entries = new Map<string, unknown>();
  return {
    read: <T>(key: string) => entries.get(key) as T | undefined,
    write: async (key, value) => {
      entries.set(key, value);
    },
  };
}

/** How an execution ended, from what stopped its interpreter. */
export function outcomeOf(err: unknown): ExecutionEnd & ExecutionOutcome {
  if (err instanceof ExecutionAborted) {
    return { status: 'cancelled', error: { error: 'ExecutionAborted', cause: 'Execution was aborted' } };
  }
  if (err instanceof ExecutionTimedOut) {
    return { status: 'timed_out', error: { error: 'States.Timeout', cause: 'Execution timed out' } };
  }
  if (err instanceof Error) {
    // A Task's own TimeoutSeconds that no Catch takes fails the execution (ExecutionFailed, error
    // States.Timeout); only the execution's TimeoutSeconds ends it TIMED_OUT (ExecutionTimedOut, above).
    return { status: 'failed', error: { error: err.name, cause: err.message } };
  }
  return { status: 'failed', error: { error: 'States.Runtime', cause: String(err) } };
}
