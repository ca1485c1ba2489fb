import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { ConflictError } from '#shared/errors';
import type { ExecutionRow, Store } from '#shared/ports/store';
import type { LocalIntegration, LocalIntegrationContext, RunHandle } from '../types.ts';
import { type AslDefinition, LOCAL_ACCOUNT, LOCAL_REGION, walkStates } from '../workflows.ts';

/*
 * Nested workflows: `arn:aws:states:::states:startExecution` (request-response), `.sync` and `.sync:2` start a
 * local execution of the workflow the `StateMachineArn` names (its last segment), as an ordinary execution in
 * the store. The child's id is derived from the parent's id, the Task's journal position and its attempt, so a
 * parent replayed after a crash finds the child it had started instead of starting another.
 */

export const START_EXECUTION = 'arn:aws:states:::states:startExecution';
export const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync';
export const START_EXECUTION_SYNC2 = 'arn:aws:states:::states:startExecution.sync:2';
/** Starts the child and waits for SendTaskSuccess/Failure on the `$$.Task.Token` passed in its Input. */
export const START_EXECUTION_WAIT = 'arn:aws:states:::states:startExecution.waitForTaskToken';

/** What a nested run needs of the orchestrator that runs the parent. */
export interface NestedHost {
  readonly store: Store;
  /** True when this orchestrator serves a workflow of that name. */
  hasWorkflow(name: string): boolean;
  /** Starts driving an execution whose row is written (the orchestrator's `start`). */
  start(workflow: string, executionId: string, input: unknown): RunHandle;
  /** The handle of a run this process drives, if it does. */
  running(executionId: string): RunHandle | undefined;
  /** Aborts a run this process drives; false when it does not drive it. */
  cancel(executionId: string): boolean;
}

class StepFunctionsError extends Error {
  constructor(code: string, message: string) {
    super(`${message} (Service: AWSStepFunctions; Status Code: 400; Error Code: ${code})`);
    this.name = `StepFunctions.${code}Exception`;
  }
}

class TaskFailed extends Error {
  override name = 'States.TaskFailed';
}

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[^:]*:[^:]*:stateMachine:([^:]+)(?::[^:]+)?$/;

/** The workflow name an ARN names (a version or alias suffix is ignored), or undefined when it is no state-machine ARN. */
export function workflowOfArn(arn: unknown): string | undefined {
  return typeof arn === 'string' ? STATE_MACHINE_ARN.exec(arn)?.[1] : undefined;
}

export function stateMachineArn(workflow: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${workflow}`;
}

export function executionArn(workflow: string, executionId: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${workflow}:${executionId}`;
}

/** A UUID-shaped name, the same for the same seed (what StartExecution would generate, made replayable). */
export function deterministicUuid(seed: string): string {
  const b = createHash('sha256').update(seed).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** StartExecution's Input: an object as it is, a string as the JSON it holds (or the string), none as `{}`. */
function childInput(input: unknown): unknown {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

const TERMINAL: Record<string, string> = {
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'ABORTED',
  timed_out: 'TIMED_OUT',
};

/** DescribeExecution of a finished child, as `.sync` (payloads as JSON strings) or `.sync:2` (as JSON) return it. */
export function describeExecution(
  row: ExecutionRow,
  version: 1 | 2,
  // The store keeps JSON as jsonb, which reorders keys; the values in hand keep the order the run produced.
  payloads: { input?: unknown; output?: unknown } = {},
): Record<string, unknown> {
  const input = 'input' in payloads ? payloads.input : row.input;
  const output = 'output' in payloads ? payloads.output : row.output;
  const status = TERMINAL[row.status] ?? 'RUNNING';
  const payload = (value: unknown) => (version === 2 ? value : JSON.stringify(value));
  const error = row.error as { error?: string; cause?: string } | null;
  const out: Record<string, unknown> = {
    ...(status !== 'SUCCEEDED' && error?.cause !== undefined ? { Cause: error.cause } : {}),
    ...(status !== 'SUCCEEDED' && error?.error !== undefined ? { Error: error.error } : {}),
    ExecutionArn: executionArn(row.workflow, row.id),
    Input: payload(input),
    InputDetails: { Included: true },
    Name: row.id,
    ...(status === 'SUCCEEDED' ? { Output: payload(output), OutputDetails: { Included: true } } : {}),
    RedriveCount: row.redriveCount,
    RedriveStatus: status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE',
    ...(status === 'SUCCEEDED'
      ? { RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven' }
      : {}),
    StartDate: (row.startedAt ?? row.createdAt).getTime(),
    StateMachineArn: stateMachineArn(row.workflow),
    Status: status,
    ...(row.finishedAt ? { StopDate: row.finishedAt.getTime() } : {}),
  };
  return out;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * The three `states:startExecution` integrations over an orchestrator. Errors as Step Functions reports them:
 * an unknown workflow is `StepFunctions.StateMachineDoesNotExistException`, a Name already used with another
 * input `StepFunctions.ExecutionAlreadyExistsException`, a child that failed, timed out or was aborted fails a
 * `.sync` Task with `States.TaskFailed` and the child's DescribeExecution as Cause. Stopping the parent's Task
 * (cancel, its timeout) stops a `.sync` child; a process letting go of the parent leaves the child running.
 */
export function nestedIntegrations(host: NestedHost): Map<string, LocalIntegration> {
  const run =
    (mode: 0 | 1 | 2): LocalIntegration =>
    async (raw, context) => {
      const p =
        raw !== null && typeof raw === 'object' && !Array.isArray(raw)
          ? (raw as Record<string, unknown>)
          : {};
      const arn = p.StateMachineArn;
      const workflow = workflowOfArn(arn);
      if (!workflow || !host.hasWorkflow(workflow)) {
        throw new StepFunctionsError(
          'StateMachineDoesNotExist',
          `State Machine Does Not Exist: '${String(arn)}'`,
        );
      }
      if (
        p.Name !== undefined &&
        (typeof p.Name !== 'string' || !/^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,80}$/.test(p.Name))
      ) {
        throw new StepFunctionsError('InvalidName', `Invalid Name: '${String(p.Name)}'`);
      }
      const input = childInput(p.Input);
      const id = (p.Name as string | undefined) ?? (await childId(host, context));
      const row = await startOrAttach(host, workflow, id, input);
      if (mode === 0) {
        return {
          ExecutionArn: executionArn(workflow, id),
          StartDate: (row.startedAt ?? row.createdAt).getTime(),
        };
      }
      const done = await waitForEnd(host, id, context);
      const describe = describeExecution(done.row, mode, {
        input,
        ...(done.output === undefined ? {} : { output: done.output }),
      });
      if (done.row.status !== 'succeeded') throw new TaskFailed(JSON.stringify(describe));
      return describe;
    };
  return new Map([
    [START_EXECUTION, run(0)],
    [START_EXECUTION_SYNC, run(1)],
    [START_EXECUTION_SYNC2, run(2)],
    // The orchestrator treats a `.waitForTaskToken` resource as a callback: it mints the token, runs this once
    // (the child is started, as request-response) and then waits for the answer to the token.
    [START_EXECUTION_WAIT, run(0)],
  ]);
}

/**
 * The child's id when no Name is given: derived from the parent, the Task's position and its attempt. A resumed
 * parent restarts an interrupted Task as its next attempt (orchestrator.ts#restartInterrupted), so the child an
 * earlier attempt started is looked up first: one that has not failed was cut off with its parent, not retried
 * (a Retry only follows a failed, timed-out or stopped child), and is the one to wait for.
 */
async function childId(host: NestedHost, context: LocalIntegrationContext): Promise<string> {
  const idOf = (attempt: number) =>
    deterministicUuid(`${context.executionId}/${context.path ?? context.stateName}@${attempt}`);
  for (let attempt = context.attempt - 1; attempt >= 0; attempt--) {
    const earlier = await host.store.getExecution(idOf(attempt));
    if (!earlier) continue;
    if (earlier.status === 'running' || earlier.status === 'pending' || earlier.status === 'succeeded') {
      return earlier.id;
    }
    break;
  }
  // A redriven parent runs the failed Task again as the same attempt: its failed child stays as it ended (as on
  // AWS, where the redriven Task starts a new execution), and the Task starts the next one of the series.
  const base = idOf(context.attempt);
  for (let n = 0; ; n++) {
    const id = n === 0 ? base : deterministicUuid(`${base}#${n}`);
    const row = await host.store.getExecution(id);
    if (!row || !FAILED.has(row.status)) return id;
  }
}

const FAILED = new Set(['failed', 'cancelled', 'timed_out']);

/**
 * Creates and starts the child, or finds the one an earlier drive of this Task started (same id, workflow
 * and input: as StartExecution is idempotent for a running execution of the same name and input).
 */
async function startOrAttach(
  host: NestedHost,
  workflow: string,
  id: string,
  input: unknown,
): Promise<ExecutionRow> {
  const existing = await host.store.getExecution(id);
  if (existing) return attach(existing, workflow, input);
  try {
    const { execution } = await host.store.createExecution({ id, workflow, input, running: true });
    host.start(workflow, id, input);
    return execution;
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const row = await host.store.getExecution(id);
    if (!row) throw err;
    return attach(row, workflow, input);
  }
}

function attach(row: ExecutionRow, workflow: string, input: unknown): ExecutionRow {
  // Compared as values: the store's jsonb does not keep key order.
  if (row.workflow !== workflow || !isDeepStrictEqual(row.input, input)) {
    throw new StepFunctionsError(
      'ExecutionAlreadyExists',
      `Execution Already Exists: '${executionArn(row.workflow, row.id)}'`,
    );
  }
  return row;
}

/** Waits for the child's end: on its handle when this process drives it, else on its row (another process resumes it). */
async function waitForEnd(
  host: NestedHost,
  id: string,
  context: LocalIntegrationContext,
): Promise<{ row: ExecutionRow; output?: unknown }> {
  const { signal } = context;
  let output: unknown;
  for (;;) {
    if (signal.aborted) {
      await stopChild(host, id, signal.reason);
      throw signal.reason instanceof Error ? signal.reason : new Error('Task stopped');
    }
    const handle = host.running(id);
    if (handle) {
      await Promise.race([
        handle.done.then((o) => {
          output = o.output;
        }),
        new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true })),
      ]);
      if (signal.aborted) continue;
    }
    const row = await host.store.getExecution(id);
    if (!row) throw new TaskFailed(`the nested execution '${id}' no longer exists`);
    if (TERMINAL[row.status]) return output === undefined ? { row } : { row, output };
    await sleep(handle ? 20 : 250, signal);
  }
}

/**
 * Step Functions stops a `.sync` child when the Task that manages it stops (cancel, timeout); a drive that is
 * only detached (this process stopping) leaves it for the next process, which resumes both.
 */
async function stopChild(host: NestedHost, id: string, reason: unknown): Promise<void> {
  if (reason instanceof Error && reason.name === 'DriveDetached') return;
  const { changed } = await host.store.finishExecution({
    id,
    status: 'cancelled',
    error: {
      error: 'ExecutionAborted',
      cause: 'The Task state which was managing this execution was stopped',
    },
  });
  host.cancel(id);
  if (changed) {
    await host.store.releaseHeld(id, { error: 'ExecutionAborted', cause: 'stopped with its parent' });
  }
}

/**
 * The nested-run Tasks of a definition whose literal `StateMachineArn` names no workflow in `known`, as
 * `state (arn)` (a path-given ARN is checked when the Task runs).
 */
export function unknownNestedTargets(definition: AslDefinition, known: (name: string) => boolean): string[] {
  const missing: string[] = [];
  walkStates(definition, (name, state) => {
    const resource = state.Resource ?? '';
    if (state.Type !== 'Task' || !resource.startsWith(START_EXECUTION)) return;
    const arn = (state.Parameters ?? state.Arguments)?.StateMachineArn;
    if (typeof arn !== 'string' || arn.startsWith('{%')) return;
    const workflow = workflowOfArn(arn);
    if (!workflow || !known(workflow)) missing.push(`${name} (${arn})`);
  });
  return missing;
}
