import { ConflictError, NotFoundError, PayloadTooLargeError } from './errors.ts';
import { executionName } from './execution-names.ts';
import type { Micros } from './money.ts';
import type { WorkflowEngine } from './ports/engine.ts';
import type { ExecutionRow, Store } from './ports/store.ts';
import { checkWorkflowInput } from './workflow-inputs.ts';

/** Step Functions' execution input limit (256 KiB of UTF-8 JSON). */
export const MAX_INPUT_BYTES = 262_144;

export interface StartExecutionRequest {
  readonly workflow: string;
  readonly input: unknown;
  readonly budgetMicros?: Micros | null | undefined;
  readonly idempotencyKey?: string | null | undefined;
}

/**
 * Creates the execution row and starts it on the engine; without a budget of its own it gets the
 * configured default (`WFLO_DEFAULT_BUDGET_USD`). The row's id is the Step Functions execution name
 * (`executionName`: workflow, key or goal slug, short id). The same idempotency key returns the same
 * execution (`created: false`) without starting anything. An input the workflow's schema refuses, or
 * one nested too deeply (`checkWorkflowInput`), and a failed start leave nothing behind.
 */
export async function startExecution(
  deps: {
    store: Store;
    engine: Pick<WorkflowEngine, 'listWorkflows' | 'startExecution'>;
    defaultBudgetMicros?: Micros | undefined;
  },
  request: StartExecutionRequest,
): Promise<{ execution: ExecutionRow; created: boolean }> {
  const workflows = await deps.engine.listWorkflows();
  const workflow = workflows.find((w) => w.name === request.workflow);
  if (!workflow) throw new NotFoundError(`workflow '${request.workflow}' does not exist`);
  checkWorkflowInput(request.workflow, request.input, workflow.inputSchema ?? null);
  const bytes = Buffer.byteLength(JSON.stringify(request.input ?? {}), 'utf8');
  if (bytes > MAX_INPUT_BYTES) {
    throw new PayloadTooLargeError(
      `input is ${bytes} bytes; Step Functions accepts at most ${MAX_INPUT_BYTES}`,
    );
  }
  // Created already running, so the engine's first step never races the status change; a start the
  // engine refuses removes the row again.
  const result = await deps.store.createExecution({
    id: executionName(request.workflow, request),
    workflow: request.workflow,
    input: request.input ?? {},
    budgetMicros: request.budgetMicros ?? deps.defaultBudgetMicros ?? null,
    idempotencyKey: request.idempotencyKey ?? null,
    running: true,
  });
  if (!result.created) return result;
  try {
    await deps.engine.startExecution(request.workflow, result.execution.id, result.execution.input);
  } catch (err) {
    await deps.store.discardExecution(result.execution.id);
    throw err;
  }
  return result;
}

/** Statuses an execution never leaves. */
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

/** Statuses Step Functions lets a user redrive. */
const REDRIVABLE = new Set(['failed', 'timed_out', 'cancelled']);

/** Step Functions redrives an execution only within 14 days of its end (RedriveExecution). */
export const REDRIVABLE_PERIOD_MS = 14 * 24 * 60 * 60 * 1000;

/**
 * Redrives a failed, timed-out or cancelled execution, as Step Functions' RedriveExecution does: it restarts
 * from the state that failed and every step that had succeeded is not run (nor paid for) again. The row goes
 * back to `running` (`execution.redriven`, redrive count + 1) before the engine is asked; if the engine
 * refuses, the row gets its old status back. `savedMicros` is what the finished steps had cost: the spend
 * this redrive does not repeat (also added to the execution's saved total).
 * {@link NotFoundError} for an unknown id; {@link ConflictError} naming the status for one not redrivable, or
 * for one that ended more than 14 days ago (Step Functions' redrivable period).
 */
export async function redriveExecution(
  deps: { store: Store; engine: Pick<WorkflowEngine, 'redriveExecution'>; now?: () => number },
  executionId: string,
): Promise<{ execution: ExecutionRow; savedMicros: number }> {
  const row = await deps.store.getExecution(executionId);
  if (!row) throw new NotFoundError(`execution '${executionId}' does not exist`);
  if (!REDRIVABLE.has(row.status)) {
    throw new ConflictError(
      `execution '${executionId}' is ${row.status}: only failed, timed_out or cancelled runs can be redriven`,
    );
  }
  const endedAgo = row.finishedAt ? (deps.now ?? Date.now)() - row.finishedAt.getTime() : 0;
  if (endedAgo > REDRIVABLE_PERIOD_MS) {
    // Step Functions' own reason (DescribeExecution redriveStatusReason), so the refusal reads the same locally.
    throw new ConflictError(
      `execution '${executionId}' ended more than 14 days ago: Execution redrivable period exceeded`,
    );
  }
  const [steps, costs] = await Promise.all([
    deps.store.listSteps(executionId),
    deps.store.listCosts(executionId),
  ]);
  const succeeded = new Set(steps.filter((s) => s.status === 'succeeded').map((s) => s.id));
  const savedMicros = costs
    .filter((c) => c.kind !== 'transition' && c.stepId !== null && succeeded.has(c.stepId))
    .reduce((sum, c) => sum + c.usdMicros, 0);
  const redriven = await deps.store.redriveExecution(executionId, savedMicros);
  if (!redriven) {
    const now = await deps.store.getExecution(executionId);
    throw new ConflictError(`execution '${executionId}' is ${now?.status ?? 'gone'}: it cannot be redriven`);
  }
  try {
    await deps.engine.redriveExecution(row.workflow, executionId);
  } catch (err) {
    // Put the row back as it was: the run did not restart.
    await deps.store.finishExecution({
      id: executionId,
      status: row.status,
      output: row.output,
      error: (row.error as { error: string; cause?: string } | null) ?? null,
    });
    throw err;
  }
  return { execution: redriven, savedMicros };
}

/**
 * Cancels an execution: records it `cancelled` first (so nothing that ends later overwrites that), stops it
 * on the engine (StopExecution on AWS, an abort locally), then releases every budget reservation it holds
 * and ends its running steps. A run left `running` by a process that died is cancelled the same way.
 * {@link NotFoundError} for an unknown id; {@link ConflictError} naming the status for one already ended.
 */
export async function cancelExecution(
  deps: { store: Store; engine: Pick<WorkflowEngine, 'stopExecution'> },
  executionId: string,
  reason = 'cancelled by request',
): Promise<ExecutionRow> {
  const row = await deps.store.getExecution(executionId);
  if (!row) throw new NotFoundError(`execution '${executionId}' does not exist`);
  if (TERMINAL.has(row.status)) {
    throw new ConflictError(`execution '${executionId}' already ended: ${row.status}`);
  }
  const error = { error: 'ExecutionCancelled', cause: reason };
  const { execution, changed } = await deps.store.finishExecution({
    id: executionId,
    status: 'cancelled',
    error,
  });
  if (!changed) {
    // It ended between the read and the update.
    throw new ConflictError(`execution '${executionId}' already ended: ${execution?.status ?? 'unknown'}`);
  }
  await deps.engine.stopExecution(row.workflow, executionId, reason);
  await deps.store.releaseHeld(executionId, error);
  return (await deps.store.getExecution(executionId)) ?? execution ?? row;
}
