import type { InputSchema } from '../workflow-inputs.ts';

/** A workflow as the API lists it. */
export interface WorkflowSummary {
  readonly name: string;
  readonly description: string;
  /** The input the workflow declares (`statemachines/<name>.input.json`); null when it declares none. */
  readonly inputSchema?: InputSchema | null;
}

/**
 * The orchestration port: Step Functions (StartExecution on the named Standard state machine) on AWS,
 * the local orchestrator on one machine.
 */
export interface WorkflowEngine {
  listWorkflows(): Promise<WorkflowSummary[]>;
  /**
   * Starts the execution named `executionId`, whose row the caller has already written
   * (`startExecution` in executions.ts); resolves once it is accepted, not when it ends.
   */
  startExecution(workflow: string, executionId: string, input: unknown): Promise<void>;
  /**
   * Stops a running execution: StopExecution on AWS; locally, aborts it if this process runs it (a run left
   * by a process that died has nothing to abort). Resolves once the engine accepted it; an execution the
   * engine does not know (already gone) is not an error.
   */
  stopExecution(workflow: string, executionId: string, cause: string): Promise<void>;
  /**
   * Restarts a failed, timed-out or cancelled execution from where it failed, its row already back to
   * running: RedriveExecution on AWS (finished states are not run again); locally, a replay in which every
   * entry that had succeeded answers from its journal record. Throws ConflictError when the engine refuses.
   */
  redriveExecution(workflow: string, executionId: string): Promise<void>;
  /**
   * Where a person watches the execution: the Step Functions console's execution page on AWS; null where
   * there is no console (the embedded engine: `wflo steps <id>` and the API are its view).
   */
  consoleUrl(workflow: string, executionId: string): string | null;
}
