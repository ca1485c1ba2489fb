import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { TASK_CONTEXT_PARAMETERS } from '#shared/step-context';
import { ACTIVITIES } from '../../infra/activities.ts';
import {
  type LambdaHandler,
  LocalOrchestrator,
  retryDelayMs,
} from '../../infra/local/engine/orchestrator.ts';
import { loadWorkflowFile, localFunctionArn, type Workflow } from '../../infra/local/engine/workflows.ts';
import { localBindings } from '../../infra/workflows/bindings.ts';
import { checkWorkflow } from '../../infra/workflows/check.ts';
import { readWorkflowFile } from '../../infra/workflows/files.ts';
import { LAMBDA_SERVICE_RETRY } from '../../infra/workflows/lint.ts';
import { openTestStore } from '../helpers/database.ts';

const activity = ACTIVITIES[0]!;
const ECHO = localFunctionArn('echo');
const FAIL = localFunctionArn('fail');
const BIG = localFunctionArn('big');
const SLOW = localFunctionArn('slow');

let store: Store;
let closeStore: () => Promise<void>;
const calls: { event: Record<string, unknown>; context: Context }[] = [];
let failures = 0;

class BudgetExceededError extends Error {
  override name = 'BudgetExceededError';
}

const handlers: Record<string, LambdaHandler> = {
  [ECHO]: async (event, context) => {
    calls.push({ event: event as Record<string, unknown>, context });
    return { state: (event as { context: { State: { Name: string } } }).context.State.Name };
  },
  [FAIL]: async (event) => {
    calls.push({ event: event as Record<string, unknown>, context: {} as Context });
    failures += 1;
    throw new BudgetExceededError('over budget');
  },
  [BIG]: async () => ({ blob: 'x'.repeat(300_000) }),
  [SLOW]: () => new Promise((r) => setTimeout(() => r({}), 5_000)),
};

function workflowFrom(name: string, definition: object): Workflow {
  const dir = mkdtempSync(join(tmpdir(), 'wflo-asl-'));
  const file = join(dir, `${name}.asl.json`);
  writeFileSync(file, JSON.stringify(definition));
  return loadWorkflowFile(file, { ...localBindings(), Echo: ECHO, Fail: FAIL, Big: BIG, Slow: SLOW });
}

const lambdaTask = (fn: string, extra: object = {}) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: fn, Payload: { context: TASK_CONTEXT_PARAMETERS, 'input.$': '$' } },
  ResultSelector: { 'out.$': '$.Payload' },
  Retry: [LAMBDA_SERVICE_RETRY],
  ...extra,
});

function orchestrator(...workflows: Workflow[]) {
  return new LocalOrchestrator({
    workflows: new Map(workflows.map((w) => [w.name, w])),
    functions: new Map(Object.entries(handlers).map(([arn, handler]) => [arn, { activity, handler }])),
    store,
    retryIntervalScale: 0,
  });
}

async function run(o: LocalOrchestrator, workflow: string, input: object = {}) {
  const id = `${workflow}-${Math.random().toString(36).slice(2)}`;
  await store.createExecution({ id, workflow, input });
  calls.length = 0;
  failures = 0;
  const outcome = await o.start(workflow, id, input).done;
  return { outcome, row: (await store.getExecution(id))! };
}

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
});
afterAll(async () => {
  await closeStore();
});

describe('Class: LocalOrchestrator', () => {
  it('gives every Lambda Task in Map iterators and Parallel branches its own state context', async () => {
    // Prepare
    const wf = workflowFrom('nested', {
      StartAt: 'Fan',
      States: {
        Fan: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'InBranch', States: { InBranch: { ...lambdaTask('${Echo}'), End: true } } },
            {
              StartAt: 'Items',
              States: {
                Items: {
                  Type: 'Map',
                  ItemsPath: '$.items',
                  ItemProcessor: {
                    StartAt: 'InMap',
                    States: { InMap: { ...lambdaTask('${Echo}'), End: true } },
                  },
                  End: true,
                },
              },
            },
          ],
          End: true,
        },
      },
    });

    // Act
    const { outcome, row } = await run(orchestrator(wf), 'nested', { items: [1, 2, 3] });

    // Assess
    expect(outcome.status).toBe('succeeded');
    expect(outcome.output).toEqual([
      { out: { state: 'InBranch' } },
      [{ out: { state: 'InMap' } }, { out: { state: 'InMap' } }, { out: { state: 'InMap' } }],
    ]);
    expect(row.status).toBe('succeeded');
    const ctx = calls[0]!.event.context as {
      Execution: { Name: string };
      State: { RetryCount: number; EnteredTime: string };
    };
    expect(ctx.Execution.Name).toBe(row.id);
    expect(Object.keys(ctx).sort()).toEqual(['Execution', 'State', 'StateMachine']);
    expect(ctx.State.RetryCount).toBe(0);
    expect(Number.isNaN(Date.parse(ctx.State.EnteredTime))).toBe(false);
    expect(calls[0]!.context.invokedFunctionArn).toBe(ECHO);
    expect(calls[0]!.context.getRemainingTimeInMillis()).toBeGreaterThan(0);
  });

  it('retries by the ASL Retry policy with RetryCount 0..MaxAttempts and one EnteredTime, then Catch sees the error name', async () => {
    // Prepare
    const wf = workflowFrom('retrying', {
      StartAt: 'Charge',
      States: {
        Charge: {
          ...lambdaTask('${Fail}'),
          Retry: [
            LAMBDA_SERVICE_RETRY,
            { ErrorEquals: ['BudgetExceededError'], MaxAttempts: 2, IntervalSeconds: 1 },
          ],
          Catch: [{ ErrorEquals: ['BudgetExceededError'], ResultPath: '$.error', Next: 'Caught' }],
          Next: 'Caught',
        },
        Caught: { Type: 'Pass', End: true },
      },
    });

    // Act
    const { outcome } = await run(orchestrator(wf), 'retrying');

    // Assess
    expect(failures).toBe(3);
    const contexts = calls.map(
      (c) => (c.event.context as { State: { RetryCount: number; EnteredTime: string } }).State,
    );
    expect(contexts.map((s) => s.RetryCount)).toEqual([0, 1, 2]);
    expect(new Set(contexts.map((s) => s.EnteredTime)).size).toBe(1);
    expect(outcome.status).toBe('succeeded');
    const error = (outcome.output as { error: { Error: string; Cause: string } }).error;
    expect(error.Error).toBe('BudgetExceededError');
    expect(JSON.parse(error.Cause)).toEqual({
      errorType: 'BudgetExceededError',
      errorMessage: 'over budget',
    });
  });

  it('fails an uncaught error and projects failed with the error name', async () => {
    // Prepare
    const wf = workflowFrom('uncaught', {
      StartAt: 'Charge',
      States: { Charge: { ...lambdaTask('${Fail}'), End: true } },
    });

    // Act
    const { outcome, row } = await run(orchestrator(wf), 'uncaught');

    // Assess
    expect(outcome.status).toBe('failed');
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'BudgetExceededError' });
  });

  it('rejects a result over 256 KiB with States.DataLimitExceeded, as Step Functions does', async () => {
    // Prepare
    const wf = workflowFrom('big', {
      StartAt: 'Big',
      States: { Big: { ...lambdaTask('${Big}'), End: true } },
    });

    // Act
    const { row } = await run(orchestrator(wf), 'big');

    // Assess
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.DataLimitExceeded' });
  });

  // Step Functions records an uncaught Task timeout as ExecutionFailed with error States.Timeout (LocalStack's
  // AWS-recorded snapshot tests/aws/services/stepfunctions/v2/timeouts/test_timeouts.snapshot.json,
  // test_fixed_timeout_lambda); TIMED_OUT is only the execution's own TimeoutSeconds (the test further down).
  it('applies TimeoutSeconds per attempt and fails the run with States.Timeout when nothing catches it', async () => {
    // Prepare
    const wf = workflowFrom('slow', {
      StartAt: 'Slow',
      States: { Slow: { ...lambdaTask('${Slow}'), TimeoutSeconds: 1, End: true } },
    });

    // Act
    const { outcome, row } = await run(orchestrator(wf), 'slow');

    // Assess
    expect(outcome.status).toBe('failed');
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ error: 'States.Timeout' });
  });

  it('cancels a running execution on request', async () => {
    // Prepare
    const wf = workflowFrom('waiting', {
      StartAt: 'Wait',
      States: { Wait: { Type: 'Wait', Seconds: 30, Next: 'Done' }, Done: { Type: 'Succeed' } },
    });
    const o = orchestrator(wf);
    await store.createExecution({ id: 'to-cancel', workflow: 'waiting', input: {} });
    const handle = o.start('waiting', 'to-cancel', {});
    await new Promise((r) => setTimeout(r, 50));

    // Act
    const cancelled = o.cancel('to-cancel');
    const outcome = await handle.done;

    // Assess
    expect(cancelled).toBe(true);
    expect(outcome.status).toBe('cancelled');
    expect((await store.getExecution('to-cancel'))?.status).toBe('cancelled');
  });

  it('refuses an ASL file with an unknown substitution variable, naming it', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'wflo-asl-'));
    const file = join(dir, 'typo.asl.json');
    writeFileSync(
      file,
      JSON.stringify({ StartAt: 'A', States: { A: { ...lambdaTask('${LlmInvokeFunctoin}'), End: true } } }),
    );

    // Act / Assess
    expect(() => loadWorkflowFile(file)).toThrow(
      /unknown substitution variable\(s\) \$\{LlmInvokeFunctoin\}/,
    );
  });

  it('refuses a Task whose integration the local runtime cannot run, naming the state', () => {
    // Prepare: ECS, which loads (the CDK app can grant it) but this orchestrator has no integration for
    const wf = workflowFrom('ecs-unserved', {
      StartAt: 'Run',
      States: {
        Run: {
          Type: 'Task',
          Resource: 'arn:aws:states:::ecs:runTask.sync',
          Parameters: { Cluster: '${SandboxCluster}', TaskDefinition: '${SandboxTaskDefinition}' },
          End: true,
        },
      },
    });

    // Act / Assess
    expect(() => orchestrator(wf)).toThrow(
      /cannot run state 'Run': integration 'arn:aws:states:::ecs:runTask\.sync' cannot run locally/,
    );
  });

  it('loads an integration the CDK app cannot grant (the engine runs it), and names what cdk synth refuses', () => {
    // Prepare
    const definition = {
      StartAt: 'Notify',
      States: {
        Notify: {
          Type: 'Task',
          Resource: 'arn:aws:states:::sns:publish',
          Parameters: { Message: 'x', TopicArn: 'arn:aws:sns:us-east-1:000000000000:t' },
          End: true,
        },
      },
    };

    // Act
    const local = workflowFrom('sns', definition);
    const deploy = () => checkWorkflow(readWorkflowFile(local.file));

    // Assess
    expect(local.deployProblems).toEqual([
      expect.stringMatching(/state 'Notify': integration 'arn:aws:states:::sns:publish' has no grant rule/),
    ]);
    expect(deploy).toThrow(/state 'Notify': integration 'arn:aws:states:::sns:publish' has no grant rule/);
  });
});

describe('Local service integrations', () => {
  const RUN_TASK = 'arn:aws:states:::ecs:runTask.sync';
  const wf = () =>
    workflowFrom('ecs', {
      StartAt: 'Run',
      States: {
        Run: {
          Type: 'Task',
          Resource: RUN_TASK,
          Parameters: {
            Cluster: '${SandboxCluster}',
            TaskDefinition: '${SandboxTaskDefinition}',
            'Overrides.$': '$.overrides',
          },
          TimeoutSeconds: 1,
          Retry: [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 1, IntervalSeconds: 1 }],
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Pass', End: true },
      },
    });

  async function runWith(
    integration: (params: unknown, ctx: { attempt: number; signal: AbortSignal }) => Promise<unknown>,
  ) {
    const o = new LocalOrchestrator({
      workflows: new Map([['ecs', wf()]]),
      functions: new Map(),
      store,
      retryIntervalScale: 0,
      integrations: new Map([[RUN_TASK, integration]]),
    });
    const id = `ecs-${Math.random().toString(36).slice(2)}`;
    await store.createExecution({ id, workflow: 'ecs', input: {} });
    return o.start('ecs', id, { overrides: { x: 1 } }).done;
  }

  it('runs a Task whose Resource has a local integration, with its resolved Parameters', async () => {
    const seen: unknown[] = [];
    const outcome = await runWith(async (params) => {
      seen.push(params);
      return { StopCode: 'EssentialContainerExited' };
    });
    expect(outcome).toMatchObject({ status: 'succeeded', output: { StopCode: 'EssentialContainerExited' } });
    expect(seen).toEqual([
      { Cluster: 'local-SandboxCluster', TaskDefinition: 'local-SandboxTaskDefinition', Overrides: { x: 1 } },
    ]);
  });

  it('retries and catches an integration error by its name, with the attempt number', async () => {
    const attempts: number[] = [];
    const outcome = await runWith(async (_, ctx) => {
      attempts.push(ctx.attempt);
      throw Object.assign(new Error('container exited 1'), { name: 'States.TaskFailed' });
    });
    expect(attempts).toEqual([0, 1]);
    expect(outcome.output).toMatchObject({
      error: { Error: 'States.TaskFailed', Cause: 'container exited 1' },
    });
  });

  it('times an attempt out at TimeoutSeconds and aborts its signal', async () => {
    let aborted = false;
    const outcome = await runWith(
      (_, ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve({});
          });
        }),
    );
    expect(aborted).toBe(true);
    expect(outcome.output).toMatchObject({ error: { Error: 'States.Timeout' } });
  });
});

describe('Top-level TimeoutSeconds', () => {
  const RUN_TASK = 'arn:aws:states:::ecs:runTask.sync';

  it('ends the execution timed_out when the workflow runs longer, and stops its running integration', async () => {
    // Prepare: a 1 s execution limit around a task that would run until it is aborted (no task timeout of its own)
    let aborted = false;
    const wf = workflowFrom('overdue', {
      StartAt: 'Run',
      TimeoutSeconds: 1,
      States: {
        Run: {
          Type: 'Task',
          Resource: RUN_TASK,
          Parameters: { Cluster: '${SandboxCluster}', TaskDefinition: '${SandboxTaskDefinition}' },
          End: true,
        },
      },
    });
    const o = new LocalOrchestrator({
      workflows: new Map([['overdue', wf]]),
      functions: new Map(),
      store,
      integrations: new Map([
        [
          RUN_TASK,
          (_: unknown, ctx: { signal: AbortSignal }) =>
            new Promise((resolve) => {
              ctx.signal.addEventListener('abort', () => {
                aborted = true;
                resolve({});
              });
            }),
        ],
      ]),
    });
    const id = `overdue-${Math.random().toString(36).slice(2)}`;
    await store.createExecution({ id, workflow: 'overdue', input: {} });
    const started = Date.now();

    // Act
    const outcome = await o.start('overdue', id, {}).done;

    // Assess
    expect(outcome).toMatchObject({ status: 'timed_out', error: { error: 'States.Timeout' } });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(aborted).toBe(true);
    expect((await store.getExecution(id))!.status).toBe('timed_out');
  });

  it('runs a workflow whose limit is the Step Functions maximum (one year) to the end', async () => {
    // Prepare: one year is past setTimeout's ~24.8-day ceiling, where a plain timer would fire at once (the
    // Wait lets such a timer fire before the run ends)
    const wf = workflowFrom('yearlong', {
      StartAt: 'Pause',
      TimeoutSeconds: 31_536_000,
      States: {
        Pause: { Type: 'Wait', Seconds: 1, Next: 'Echo' },
        Echo: { ...lambdaTask('${Echo}'), End: true },
      },
    });

    // Act
    const { outcome, row } = await run(orchestrator(wf), 'yearlong');

    // Assess
    expect(outcome.status).toBe('succeeded');
    expect(row.status).toBe('succeeded');
  });
});

describe('Function: retryDelayMs', () => {
  it('grows by BackoffRate, caps at MaxDelaySeconds and draws FULL jitter below the cap', () => {
    expect(retryDelayMs({ ErrorEquals: ['x'], IntervalSeconds: 2, BackoffRate: 2 }, 0)).toBe(2000);
    expect(retryDelayMs({ ErrorEquals: ['x'], IntervalSeconds: 2, BackoffRate: 2 }, 3)).toBe(16000);
    expect(
      retryDelayMs({ ErrorEquals: ['x'], IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 5 }, 3),
    ).toBe(5000);
    expect(
      retryDelayMs({ ErrorEquals: ['x'], IntervalSeconds: 2, JitterStrategy: 'FULL' }, 0, () => 0.25),
    ).toBe(500);
  });
});
