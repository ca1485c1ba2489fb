/**
 * code-execution.asl.json through the local orchestrator, with the real handlers and the real local
 * sandbox behind `ecs:runTask.sync`. The programs here are the tests' own, so the runtime may fall back to
 * running them without bubblewrap where it is missing (SANDBOX_UNSAFE_LOCAL); where bubblewrap is
 * installed (CI's integration run, tests/security) they run in it. JavaScript runs with the Node that runs
 * the tests, so these cases need nothing but Node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fargateMicros } from '#shared/pricing/aws';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { runToEnd, startLocal, stopLocal } from '../helpers/local.ts';

let local: LocalRuntime;

beforeAll(async () => {
  local = await startLocal({ SANDBOX_UNSAFE_LOCAL: 'true' });
});
afterAll(async () => {
  await stopLocal(local);
});

/** Starts code-execution through the same service the API uses and waits for the end. */
function runCode(input: Record<string, unknown>) {
  return runToEnd(local, 'code-execution', input);
}

const sum = (rows: { usdMicros: number }[]) => rows.reduce((s, r) => s + r.usdMicros, 0);
/** The default task (0.5 vCPU, 1 GB) for Fargate's one-minute minimum. */
const MINUTE_OF_DEFAULT_TASK = fargateMicros(0.5, 1, 0);

describe('State machine: code-execution.asl.json', () => {
  it('HappyPath: prepares, runs the program in the sandbox, collects output and compute cost, finishes', async () => {
    // Act
    const { execution, steps, ledger, events } = await runCode({
      language: 'javascript',
      code: "console.log(6 * 7); console.error('note');",
      timeoutSeconds: 10,
    });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toEqual({
      language: 'javascript',
      exitCode: 0,
      stdout: '42\n',
      stderr: 'note\n',
      truncated: false,
      durationMs: expect.any(Number),
      sandboxCostUsd: MINUTE_OF_DEFAULT_TASK / 1e6,
    });
    expect(steps.map((s) => [s.stateName, s.activity, s.attempt, s.status])).toEqual([
      ['Prepare', 'sandbox-prepare', 0, 'succeeded'],
      ['Collect', 'sandbox-collect', 0, 'succeeded'],
      ['Finish', 'execution-finish', 0, 'succeeded'],
    ]);
    const sandbox = ledger.filter((c) => c.kind === 'sandbox');
    expect(sandbox.map((c) => [c.stateName, c.provider, c.model, c.usdMicros])).toEqual([
      ['Collect', 'fargate', '0.5vCPU-1GB', MINUTE_OF_DEFAULT_TASK],
    ]);
    expect(sandbox[0]!.stepId).toBe(steps[1]!.id);
    expect(execution.costMicros).toBe(sum(ledger));
    const types = events.map((e) => e.type);
    expect(types.indexOf('sandbox.started')).toBeLessThan(types.indexOf('sandbox.finished'));
    expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
      exitCode: 0,
      timedOut: false,
      stdout: '42\n',
      taskArn: expect.stringMatching(/^arn:aws:ecs:us-east-1:000000000000:task\/local-SandboxCluster\//),
    });
  });

  it('DefaultTimeout: without timeoutSeconds the program gets 30 s', async () => {
    // Act
    const { execution, events } = await runCode({ language: 'javascript', code: 'console.log(1)' });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(events.find((e) => e.type === 'sandbox.started')?.payload).toMatchObject({ timeoutSeconds: 30 });
  });

  it('SandboxFailedCatch: a non-zero exit fails Collect with SandboxFailedError; the run is recorded failed', async () => {
    // Act
    const { execution, steps, ledger, events } = await runCode({
      language: 'javascript',
      code: "console.error('boom'); process.exit(3);",
      timeoutSeconds: 10,
    });

    // Assess
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'SandboxFailedError' });
    expect((execution.error as { cause: string }).cause).toContain('sandboxed code exited 3: boom');
    expect(steps.map((s) => [s.stateName, s.status])).toEqual([
      ['Prepare', 'succeeded'],
      ['Collect', 'failed'],
      ['RecordFailure', 'succeeded'],
    ]);
    expect(steps[1]!.error).toMatchObject({ error: 'SandboxFailedError' });
    // The task ran and is paid for, whatever the program did.
    expect(ledger.filter((c) => c.kind === 'sandbox').map((c) => c.usdMicros)).toEqual([
      MINUTE_OF_DEFAULT_TASK,
    ]);
    expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
      exitCode: 3,
      stderr: 'boom\n',
    });
  });

  it('SandboxTimeoutCatch: a program past its timeout is killed; Collect raises SandboxTimeoutError; failed', async () => {
    // Act
    const t0 = Date.now();
    const { execution, events } = await runCode({
      language: 'javascript',
      code: 'for (;;) {}',
      timeoutSeconds: 1,
    });

    // Assess
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'SandboxTimeoutError' });
    expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
      timedOut: true,
      signal: 'SIGKILL',
      exitCode: 137,
    });
  });

  it('a language the sandbox does not run is refused at start by the input schema, naming input.language', async () => {
    // Prepare
    const before = (await local.runtime.store.listExecutions({ workflow: 'code-execution', limit: 100 }))
      .items.length;

    // Act
    const attempt = runCode({ language: 'ruby', code: 'puts 1' });

    // Assess
    await expect(attempt).rejects.toMatchObject({
      name: 'ValidationError',
      issues: [expect.stringMatching(/^input\.language: /)],
    });
    const after = (await local.runtime.store.listExecutions({ workflow: 'code-execution', limit: 100 })).items
      .length;
    expect(after).toBe(before);
  });

  it('ValidationCatch: started past the API (as from the Step Functions console), a bad language fails Prepare; no task runs, nothing is charged for one', async () => {
    // Prepare: the row as a console start would leave it, then the engine directly (no input schema there)
    const store = local.runtime.store;
    const id = `code-execution-console-${Date.now()}`;
    await store.createExecution({ id, workflow: 'code-execution', input: {}, running: true });

    // Act
    await local.engine.startExecution('code-execution', id, { language: 'ruby', code: 'puts 1' });
    await local.orchestrator.drain();
    const execution = (await store.getExecution(id))!;
    const steps = await store.listSteps(id);
    const ledger = await store.listCosts(id);
    const events = await store.listEvents(id, 0, 1000);

    // Assess
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'ValidationError' });
    expect((execution.error as { cause: string }).cause).toMatch(/language/);
    expect(steps.map((s) => s.stateName)).toEqual(['Prepare', 'RecordFailure']);
    expect(ledger.filter((c) => c.kind === 'sandbox')).toEqual([]);
    expect(events.some((e) => e.type.startsWith('sandbox.'))).toBe(false);
  });
});
