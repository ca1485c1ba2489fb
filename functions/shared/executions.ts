import { NotFoundError, PayloadTooLargeError } from './errors.ts';
import { executionName } from './execution-names.ts';
import type { Micros } from './money.ts';
import type { WorkflowEngine } from './ports/engine.ts';
import type { ExecutionRow, Store } from './store.ts';
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
