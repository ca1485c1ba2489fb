import './polyfills.ts';
import { StateMachine } from 'aws-local-stepfunctions';
import { projectExecutionEnd } from '#shared/execution-end';
import { logger } from '#shared/observability';
import {
  errorMatches,
  lambdaContext,
  outcomeOfError,
  retryDelayMs,
  STATE_PLACEHOLDER,
  TaskError,
  withStateContext,
} from './task-rules.ts';
import {
  type ExecutionOutcome,
  type LocalIntegration,
  type LocalIntegrationContext,
  type LocalOrchestratorOptions,
  PAYLOAD_LIMIT_BYTES,
  type RunHandle,
} from './types.ts';
import {
  type AslDefinition,
  type AslState,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type Retrier,
  type Workflow,
  walkStates,
} from './workflows.ts';

export { retryDelayMs } from './task-rules.ts';
export * from './types.ts';

const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const LAMBDA_ARN = /^arn:aws:lambda:[^:]+:\d{12}:function:[^:]+(:[^:]+)?$/;
// setTimeout's ceiling (~24.8 days); stands in for "no timeout" where the library would impose 60 s.
const NO_TIMEOUT_SECONDS = 2_147_483;

interface PreparedTask {
  readonly stateName: string;
  readonly retry: readonly Retrier[];
  readonly timeoutSeconds: number | undefined;
  /** `lambda:invoke` integration (result wrapped in `{ Payload, StatusCode }`), a bare function ARN, or a local service integration. */
  readonly integration: 'invoke' | 'arn' | 'service';
  readonly functionArn: string | undefined;
  readonly service?: LocalIntegration;
}

interface PreparedWorkflow {
  readonly workflow: Workflow;
  readonly machine: StateMachine;
  readonly tasks: readonly PreparedTask[];
}

/** How long a run's end waits for the interpreter's event stream to close after its result settled. */
const STREAM_END_GRACE_MS = 2_000;

/**
 * Runs `statemachines/*.asl.json` on one machine with aws-local-stepfunctions, binding every Lambda Task to
 * its in-process handler. The library's `$$` is a static mock and it does not know what Lambda's
 * `lambda:invoke` returns, so this class supplies what Step Functions would: the per-entry context
 * (`State.Name`, `State.EnteredTime`, `State.RetryCount`), the `{ Payload, StatusCode }` result shape, a
 * Lambda-like context, error names for Retry/Catch, per-attempt timeouts and the 256 KiB payload limit.
 * Lambda Tasks' Retry policies are applied here (so each attempt knows its RetryCount) and removed from the
 * definition the interpreter sees; everything else (Choice, Map, Parallel, Catch, Pass…) is the library's.
 */
export class LocalOrchestrator {
  readonly #options: LocalOrchestratorOptions;
  readonly #prepared = new Map<string, PreparedWorkflow>();
  readonly #workflows = new Map<string, Workflow>();
  readonly #running = new Map<string, RunHandle>();

  constructor(options: LocalOrchestratorOptions) {
    this.#options = options;
    for (const workflow of options.workflows.values()) this.load(workflow);
  }

  /** The workflows this orchestrator runs, by name. */
  get workflows(): ReadonlyMap<string, Workflow> {
    return this.#workflows;
  }

  /**
   * Serves a workflow from now on, replacing one of the same name (`wflo dev` reloads a changed file). Throws,
   * serving what it did before, when a Task cannot run here. Running executions keep the version they started with.
   */
  load(workflow: Workflow): 'added' | 'updated' {
    const prepared = this.#prepare(workflow);
    const kind = this.#workflows.has(workflow.name) ? 'updated' : 'added';
    this.#prepared.set(workflow.name, prepared);
    this.#workflows.set(workflow.name, workflow);
    return kind;
  }

  /** Stops serving a workflow (its file was deleted); running executions finish. False when it was not served. */
  unload(name: string): boolean {
    this.#prepared.delete(name);
    return this.#workflows.delete(name);
  }

  /** Executions still running. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Starts an execution that already exists in the store; returns at once. Marking it running is the
   * caller's part (see `startExecution`), as it is on AWS where Step Functions accepts the start.
   */
  start(workflowName: string, executionId: string, input: unknown): RunHandle {
    const prepared = this.#prepared.get(workflowName);
    if (!prepared) throw new Error(`unknown workflow '${workflowName}'`);
    if (this.#running.has(executionId)) return this.#running.get(executionId)!;
    const stateMachineArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${workflowName}`;
    const context = {
      Execution: {
        Id: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${workflowName}:${executionId}`,
        Name: executionId,
      },
      StateMachine: { Id: stateMachineArn, Name: workflowName },
      // The interpreter's `$$` is one static object per execution; Tasks' `$$.State.*` paths resolve to
      // these stand-ins, which #attempt replaces with the real per-entry values (withStateContext).
      State: { ...STATE_PLACEHOLDER },
    };
    // Aborted with the execution, so a running service integration (a sandboxed program) stops too.
    const cancelled = new AbortController();
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const task of prepared.tasks) {
      overrides[task.stateName] = (params) =>
        this.#runTask(task, params, executionId, workflowName, cancelled.signal);
    }
    let abort: () => void = () => {};
    const done = (async (): Promise<ExecutionOutcome> => {
      const execution = prepared.machine.run(input as never, {
        overrides: { taskResourceLocalHandlers: overrides as never },
        context: context as never,
      });
      abort = execution.abort;
      // Step Functions bills every state entered (Map iterations included); count them as it would.
      let transitions = 0;
      const counted = (async () => {
        for await (const event of execution.eventLogs) if (event.type === 'StateEntered') transitions++;
      })();
      const outcome = await execution.result.then(
        (output): ExecutionOutcome => ({ status: 'succeeded', output }),
        (err: unknown): ExecutionOutcome => outcomeOfError(err),
      );
      // A timed-out execution stops what it still runs, as Step Functions stops a .sync task it waits for.
      if (outcome.status === 'timed_out') cancelled.abort();
      // The event stream ends with the run, except when the interpreter itself broke (e.g. a stack overflow
      // on input nested thousands deep): its result rejects and the stream never ends. The count is then
      // what was seen so far; waiting on for the stream would leave the run `running` for ever.
      let streamEnded = false;
      await Promise.race([
        counted.then(() => {
          streamEnded = true;
        }),
        new Promise<void>((resolve) => setTimeout(resolve, STREAM_END_GRACE_MS).unref()),
      ]);
      if (!streamEnded) {
        logger.warn('the interpreter ended without closing its event stream', {
          executionId,
          outcome: outcome.status,
        });
      }
      await projectExecutionEnd(this.#options.store, executionId, outcome, transitions);
      return outcome;
    })()
      .catch((err: unknown): ExecutionOutcome => {
        // Only recording the end can fail here (the interpreter's own failures are outcomes above).
        logger.error('could not record how the execution ended', { executionId, error: err as Error });
        return {
          status: 'failed',
          error: { error: 'States.Runtime', cause: err instanceof Error ? err.message : String(err) },
        };
      })
      .finally(() => this.#running.delete(executionId));
    const handle: RunHandle = {
      executionId,
      workflow: workflowName,
      done,
      abort: () => {
        abort();
        cancelled.abort();
      },
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

  #prepare(workflow: Workflow): PreparedWorkflow {
    const definition = structuredClone(workflow.definition) as AslDefinition;
    const tasks: PreparedTask[] = [];
    const unsupported: string[] = [];
    walkStates(definition, (stateName, state) => {
      if (state.Type !== 'Task') return;
      const task = this.#prepareTask(stateName, state);
      if (!task) {
        unsupported.push(`${stateName} (${state.Resource})`);
        return;
      }
      tasks.push(task);
      // Retry and per-attempt timeouts are applied by #runTask; the interpreter keeps Catch.
      delete state.Retry;
      state.TimeoutSeconds = NO_TIMEOUT_SECONDS;
      delete state.TimeoutSecondsPath;
    });
    if (unsupported.length > 0) {
      throw new Error(
        `${workflow.file}: the local runtime cannot run Task state(s) ${unsupported.join(', ')}`,
      );
    }
    // The interpreter enforces the top-level TimeoutSeconds (ExecutionTimeoutError → timed_out) with one timer,
    // and a Node timer past its ~24.8-day ceiling fires at once: a longer limit (up to a year on AWS) is capped.
    if (typeof definition.TimeoutSeconds === 'number' && definition.TimeoutSeconds > NO_TIMEOUT_SECONDS) {
      definition.TimeoutSeconds = NO_TIMEOUT_SECONDS;
    }
    const machine = new StateMachine(definition as never, { validationOptions: { checkArn: false } });
    return { workflow, machine, tasks };
  }

  #prepareTask(stateName: string, state: AslState): PreparedTask | undefined {
    const resource = state.Resource ?? '';
    const base = {
      stateName,
      retry: state.Retry ?? [],
      timeoutSeconds: typeof state.TimeoutSeconds === 'number' ? state.TimeoutSeconds : undefined,
    };
    if (LAMBDA_INVOKE.test(resource)) {
      const fn = state.Parameters?.FunctionName;
      if (typeof fn === 'string' && !this.#options.functions.has(fn)) {
        throw new Error(`state '${stateName}' invokes ${fn}, which no local handler serves`);
      }
      return { ...base, integration: 'invoke', functionArn: typeof fn === 'string' ? fn : undefined };
    }
    const service = this.#options.integrations?.get(resource);
    if (service) return { ...base, integration: 'service', functionArn: undefined, service };
    if (LAMBDA_ARN.test(resource)) {
      if (!this.#options.functions.has(resource)) {
        throw new Error(`state '${stateName}' invokes ${resource}, which no local handler serves`);
      }
      return { ...base, integration: 'arn', functionArn: resource };
    }
    return undefined;
  }

  async #runTask(
    task: PreparedTask,
    params: unknown,
    executionId: string,
    workflow: string,
    cancelled: AbortSignal,
  ): Promise<unknown> {
    const enteredTime = new Date().toISOString();
    const counts = task.retry.map(() => 0);
    for (let attempt = 0; ; attempt++) {
      try {
        if (task.integration === 'service') {
          return await this.#service(
            task,
            params,
            { executionId, workflow, stateName: task.stateName, enteredTime, attempt },
            cancelled,
          );
        }
        return await this.#attempt(task, params, enteredTime, attempt);
      } catch (err) {
        const name = err instanceof Error ? err.name : 'Error';
        // As Step Functions does: the first retrier whose ErrorEquals matches decides; exhausted means no retry.
        const index = task.retry.findIndex((r) => errorMatches(r.ErrorEquals, name));
        const retrier = task.retry[index];
        if (!retrier || counts[index]! >= (retrier.MaxAttempts ?? 3)) throw err;
        const delay = retryDelayMs(retrier, counts[index]!) * (this.#options.retryIntervalScale ?? 1);
        counts[index]!++;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async #service(
    task: PreparedTask,
    params: unknown,
    context: Omit<LocalIntegrationContext, 'signal'>,
    cancelled: AbortSignal,
  ): Promise<unknown> {
    const controller = new AbortController();
    const onCancel = () => controller.abort();
    cancelled.addEventListener('abort', onCancel, { once: true });
    if (cancelled.aborted) controller.abort();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      if (task.timeoutSeconds === undefined) return;
      timer = setTimeout(() => {
        // Reject first: the race is decided before the integration reacts to the abort.
        reject(new TaskError('States.Timeout', `State timed out after ${task.timeoutSeconds} seconds`));
        controller.abort();
      }, task.timeoutSeconds * 1000);
    });
    try {
      return await Promise.race([task.service!(params, { ...context, signal: controller.signal }), timeout]);
    } catch (err) {
      if (err instanceof TaskError) throw err;
      const e = err instanceof Error ? err : new Error(String(err));
      throw new TaskError(e.name, e.message);
    } finally {
      clearTimeout(timer);
      cancelled.removeEventListener('abort', onCancel);
    }
  }

  async #attempt(
    task: PreparedTask,
    params: unknown,
    enteredTime: string,
    attempt: number,
  ): Promise<unknown> {
    const invoke = task.integration === 'invoke';
    const p = (params ?? {}) as { FunctionName?: unknown; Payload?: unknown };
    const functionArn = invoke ? String(p.FunctionName) : task.functionArn!;
    const fn = this.#options.functions.get(functionArn);
    if (!fn) throw new TaskError('Lambda.ResourceNotFoundException', `Function not found: ${functionArn}`);
    const payload = withStateContext(invoke ? p.Payload : params, task.stateName, enteredTime, attempt);
    // A Lambda receives JSON, never shared objects.
    const event = JSON.parse(JSON.stringify(payload ?? {}));
    const timeoutMs = Math.min(
      (task.timeoutSeconds ?? Number.POSITIVE_INFINITY) * 1000,
      fn.activity.timeoutSeconds * 1000,
    );
    const lambdaTimedOut = timeoutMs === fn.activity.timeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    const context = lambdaContext(fn.activity, functionArn, deadline);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            lambdaTimedOut
              ? new TaskError('Sandbox.Timedout', `Task timed out after ${timeoutMs / 1000} seconds`)
              : new TaskError('States.Timeout', `State timed out after ${task.timeoutSeconds} seconds`),
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
        `The state/task '${task.stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
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
