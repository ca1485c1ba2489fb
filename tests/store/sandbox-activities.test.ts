import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import {
  collectSandbox,
  MAX_RESULT_BYTES,
  SandboxCollectInputSchema,
  type SandboxCollectOutput,
} from '#shared/activities/sandbox-collect';
import {
  MAX_CODE_BYTES,
  prepareSandbox,
  SandboxPrepareInputSchema,
  TASK_OVERHEAD_SECONDS,
} from '#shared/activities/sandbox-prepare';
import { SandboxFailedError, SandboxTimeoutError, ValidationError } from '#shared/errors';
import type { SandboxResult } from '#shared/ports/sandbox';
import { fargateMicros } from '#shared/pricing/aws';
import type { StepInfo } from '#shared/step-context';
import { entryKey } from '#shared/step-context';
import { openTestStore } from '../helpers/database.ts';

let db: Awaited<ReturnType<typeof openTestStore>>;
let root: string;
let artifacts: LocalArtifacts;
let n = 0;

beforeAll(async () => {
  db = await openTestStore();
  root = await mkdtemp(join(tmpdir(), 'wflo-sandbox-activities-'));
  artifacts = new LocalArtifacts(root);
});
afterAll(async () => {
  await db.close();
  await rm(root, { recursive: true, force: true });
});

/** A step row as stepTracking would have begun it. */
async function beginStep(
  stateName: string,
  executionId?: string,
  enteredTime = new Date().toISOString(),
): Promise<StepInfo> {
  const id = executionId ?? `sbx-${n++}`;
  if (!executionId) await db.store.createExecution({ id, workflow: 'code-execution', input: {} });
  const row = await db.store.beginStep({
    executionId: id,
    stateName,
    activity: stateName === 'Prepare' ? 'sandbox-prepare' : 'sandbox-collect',
    enteredAt: enteredTime,
    attempt: 0,
  });
  const step = {
    stepId: row.id,
    executionId: id,
    workflow: 'code-execution',
    stateName,
    enteredTime: row.enteredAt,
    item: '',
    attempt: 0,
  };
  return { ...step, resultKey: `${entryKey(step)}/${row.activity}` } as StepInfo;
}

const result = (over: Partial<SandboxResult> = {}): SandboxResult => ({
  exitCode: 0,
  signal: null,
  stdout: '42\n',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 35,
  ...over,
});

const SIZE = { cpu: 512, memoryMiB: 1024 };
const collectDeps = () => ({ store: db.store, artifacts, taskSize: SIZE });

/** Prepares a run in a fresh execution and delivers `body` as its result, as the runner would. */
async function delivered(body: string | undefined) {
  const prepareStep = await beginStep('Prepare');
  const prepared = await prepareSandbox(
    { store: db.store, artifacts, taskSize: SIZE },
    prepareStep,
    SandboxPrepareInputSchema.parse({ context: {}, language: 'python', code: 'print(42)' }),
  );
  if (body !== undefined) await artifacts.put(prepared.resultKey, body, 'application/json');
  const step = await beginStep('Collect', prepareStep.executionId);
  return { prepared, step, executionId: prepareStep.executionId };
}

const collectInput = (resultKey: string, extra: Record<string, unknown> = {}) =>
  SandboxCollectInputSchema.parse({ context: {}, resultKey, ...extra });

describe('Function: prepareSandbox', () => {
  it('stores the code under the execution, presigns its GET and the result PUT, and emits sandbox.started', async () => {
    // Prepare
    const step = await beginStep('Prepare');

    // Act
    const out = await prepareSandbox(
      { store: db.store, artifacts, taskSize: SIZE },
      step,
      SandboxPrepareInputSchema.parse({
        context: {},
        language: 'python',
        code: 'print(6 * 7)',
        timeoutSeconds: 5,
      }),
    );

    // Assess
    expect(out.codeKey).toMatch(
      new RegExp(`^executions/${step.executionId}/sandbox/[0-9a-f]{32}/code\\.py$`),
    );
    expect(out.resultKey).toBe(out.codeKey.replace('code.py', 'result.json'));
    expect(await readFile(artifacts.pathOf(out.codeUrl)!, 'utf8')).toBe('print(6 * 7)');
    expect(artifacts.pathOf(out.resultUrl)).toBe(join(root, out.resultKey));
    expect(out.environment).toEqual([
      { Name: 'WFLO_LANGUAGE', Value: 'python' },
      { Name: 'WFLO_CODE_URL', Value: out.codeUrl },
      { Name: 'WFLO_RESULT_URL', Value: out.resultUrl },
      { Name: 'WFLO_TIMEOUT_MS', Value: '5000' },
    ]);
    expect(out.taskTimeoutSeconds).toBe(5 + TASK_OVERHEAD_SECONDS);
    const events = await db.store.listEvents(step.executionId, 0, 100);
    expect(events.filter((e) => e.type === 'sandbox.started').map((e) => e.payload)).toEqual([
      {
        executionId: step.executionId,
        stateName: 'Prepare',
        language: 'python',
        codeBytes: 12,
        timeoutSeconds: 5,
        codeKey: out.codeKey,
        resultKey: out.resultKey,
      },
    ]);
  });

  it('uses the same objects for a retry of the entry and new ones for a re-entry', async () => {
    // Prepare
    const first = await beginStep('Prepare');
    const input = SandboxPrepareInputSchema.parse({
      context: {},
      language: 'javascript',
      code: 'console.log(1)',
    });

    // Act
    const a = await prepareSandbox({ store: db.store, artifacts, taskSize: SIZE }, first, input);
    const retry = await prepareSandbox(
      { store: db.store, artifacts, taskSize: SIZE },
      { ...first, attempt: 1 },
      input,
    );
    const reentry = await prepareSandbox(
      { store: db.store, artifacts, taskSize: SIZE },
      { ...first, enteredTime: new Date(Date.now() + 1000).toISOString() },
      input,
    );

    // Assess
    expect(a.codeKey).toMatch(/\/code\.js$/);
    expect(retry.resultKey).toBe(a.resultKey);
    expect(reentry.resultKey).not.toBe(a.resultKey);
  });

  it('validates its input: known language, code size, bounded timeout (default 30 s)', () => {
    const parse = (v: Record<string, unknown>) => SandboxPrepareInputSchema.safeParse({ context: {}, ...v });
    expect(parse({ language: 'python', code: 'x' }).data?.timeoutSeconds).toBe(30);
    expect(parse({ language: 'ruby', code: 'x' }).success).toBe(false);
    expect(parse({ language: 'python', code: '' }).success).toBe(false);
    expect(parse({ language: 'python', code: 'é'.repeat(MAX_CODE_BYTES / 2) }).success).toBe(true);
    expect(parse({ language: 'python', code: `${'é'.repeat(MAX_CODE_BYTES / 2)}x` }).success).toBe(false);
    expect(parse({ language: 'python', code: 'x', timeoutSeconds: 0 }).success).toBe(false);
    expect(parse({ language: 'python', code: 'x', timeoutSeconds: 901 }).success).toBe(false);
    expect(parse({ language: 'python', code: 'x', timeoutSeconds: 1.5 }).success).toBe(false);
  });
});

describe('Function: collectSandbox', () => {
  it('returns the result and charges the task once: Fargate vCPU and GB for its lifetime, at least a minute', async () => {
    // Prepare
    const { prepared, step, executionId } = await delivered(JSON.stringify(result()));
    const input = collectInput(prepared.resultKey, {
      task: {
        taskArn: 'arn:aws:ecs:t',
        cpu: '1024',
        memory: '2048',
        createdAt: 1_700_000_000_000,
        stoppedAt: 1_700_000_125_400,
      },
    });

    // Act
    const out = await collectSandbox(collectDeps(), step, input);
    const again = await collectSandbox(collectDeps(), { ...step, attempt: 1 }, input);

    // Assess
    expect(out).toMatchObject({
      exitCode: 0,
      stdout: '42\n',
      stderr: '',
      succeeded: true,
      billedMs: 125_400,
    });
    expect(out.costMicros).toBe(fargateMicros(1, 2, 125_400));
    expect(again).toEqual(out);
    const ledger = (await db.store.listCosts(executionId)).filter((c) => c.kind === 'sandbox');
    expect(ledger.map((c) => [c.stateName, c.provider, c.model, c.usdMicros])).toEqual([
      ['Collect', 'fargate', '1vCPU-2GB', out.costMicros],
    ]);
    const finished = (await db.store.listEvents(executionId, 0, 100)).filter(
      (e) => e.type === 'sandbox.finished',
    );
    expect(finished.map((e) => e.payload)).toEqual([
      expect.objectContaining({
        exitCode: 0,
        stdout: '42\n',
        taskArn: 'arn:aws:ecs:t',
        costMicros: out.costMicros,
      }),
    ]);
  });

  it('charges the configured task size for the one-minute minimum when the task reports nothing', async () => {
    // Prepare
    const { prepared, step } = await delivered(JSON.stringify(result()));

    // Act
    const out = await collectSandbox(collectDeps(), step, collectInput(prepared.resultKey));

    // Assess: 60 s × (0.5 vCPU × 8,994.4 + 1 GB × 988.9) n$ = 329,166 n$ → 330 µ$
    expect(out.costMicros).toBe(330);
    expect(out.billedMs).toBe(35);
  });

  it('reads ECS timestamps as epoch seconds, epoch milliseconds or ISO strings', () => {
    const task = (createdAt: unknown, stoppedAt: unknown) =>
      SandboxCollectInputSchema.parse({ context: {}, resultKey: 'k', task: { createdAt, stoppedAt } }).task;
    expect(task(1_700_000_000, 1_700_000_090.5)).toMatchObject({
      createdAt: 1_700_000_000_000,
      stoppedAt: 1_700_000_090_500,
    });
    expect(task(1_700_000_000_000, 1_700_000_001_000)).toMatchObject({ stoppedAt: 1_700_000_001_000 });
    expect(task('2026-01-01T00:00:00Z', '2026-01-01T00:01:30Z')).toMatchObject({
      stoppedAt: Date.parse('2026-01-01T00:01:30Z'),
    });
    expect(() => task('yesterday', 1)).toThrow();
  });

  it('throws SandboxFailedError on a non-zero exit, naming it with the end of stderr, after charging once', async () => {
    // Prepare
    const { prepared, step, executionId } = await delivered(
      JSON.stringify(
        result({ exitCode: 1, stdout: '', stderr: 'Traceback...\nZeroDivisionError: division by zero\n' }),
      ),
    );
    const input = collectInput(prepared.resultKey);

    // Act / Assess
    await expect(collectSandbox(collectDeps(), step, input)).rejects.toThrow(
      new SandboxFailedError('sandboxed code exited 1: Traceback...\nZeroDivisionError: division by zero'),
    );
    await expect(collectSandbox(collectDeps(), { ...step, attempt: 1 }, input)).rejects.toThrow(
      SandboxFailedError,
    );
    expect((await db.store.listCosts(executionId)).filter((c) => c.kind === 'sandbox')).toHaveLength(1);
    const finished = (await db.store.listEvents(executionId, 0, 100)).filter(
      (e) => e.type === 'sandbox.finished',
    );
    expect(finished.map((e) => (e.payload as { exitCode: number }).exitCode)).toEqual([1]);
  });

  it('throws SandboxTimeoutError when the runner killed the program at its limit', async () => {
    const { prepared, step } = await delivered(
      JSON.stringify(
        result({ exitCode: 137, signal: 'SIGKILL', timedOut: true, durationMs: 1000, stdout: '' }),
      ),
    );
    await expect(collectSandbox(collectDeps(), step, collectInput(prepared.resultKey))).rejects.toThrow(
      SandboxTimeoutError,
    );
  });

  it('with raiseOnFailure false, reports a failed run in its output and a summary for the model', async () => {
    // Prepare
    const { prepared, step } = await delivered(
      JSON.stringify(result({ exitCode: 2, stdout: 'partial', stderr: 'bad ``` fence\n' })),
    );

    // Act
    const out = await collectSandbox(
      collectDeps(),
      step,
      collectInput(prepared.resultKey, { raiseOnFailure: false }),
    );

    // Assess
    expect(out).toMatchObject({ exitCode: 2, succeeded: false, stdout: 'partial' });
    expect(out.summary).toBe(
      'The program exited with code 2 after 35 ms.\nstdout:\n```\npartial\n```\nstderr:\n````\nbad ``` fence\n````',
    );
  });

  it.each([
    ['missing', undefined, /no result was delivered/],
    ['not JSON', '{"exitCode": 0,', /not JSON/],
    ['the wrong shape', JSON.stringify({ ...result(), exitCode: 'zero' }), /malformed: exitCode/],
    ['too large', JSON.stringify(result({ stdout: 'x'.repeat(MAX_RESULT_BYTES) })), /at most/],
  ])(
    'throws SandboxFailedError for a result that is %s, still charging the task',
    async (_, body, message) => {
      // Prepare
      const { prepared, step, executionId } = await delivered(body);

      // Act / Assess
      const error = await collectSandbox(
        collectDeps(),
        step,
        collectInput(prepared.resultKey, { raiseOnFailure: false }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SandboxFailedError);
      expect((error as Error).message).toMatch(message);
      expect(
        (await db.store.listCosts(executionId)).filter((c) => c.kind === 'sandbox').map((c) => c.usdMicros),
      ).toEqual([330]);
      const finished = (await db.store.listEvents(executionId, 0, 100)).find(
        (e) => e.type === 'sandbox.finished',
      );
      expect(finished?.payload).toMatchObject({ error: expect.stringMatching(message) });
    },
  );

  it('caps stdout and stderr in its output (marking them truncated) and more tightly in the event', async () => {
    // Prepare
    const { prepared, step, executionId } = await delivered(
      JSON.stringify(result({ stdout: `${'a'.repeat(40 * 1024)}€`, stderr: 'e'.repeat(5000) })),
    );

    // Act
    const out: SandboxCollectOutput = await collectSandbox(
      collectDeps(),
      step,
      collectInput(prepared.resultKey),
    );

    // Assess
    expect(Buffer.byteLength(out.stdout)).toBe(32 * 1024);
    expect(out.stderr).toHaveLength(5000);
    expect(out.truncated).toBe(true);
    expect(out.summary).toContain('stdout (first 8192 bytes):');
    const finished = (await db.store.listEvents(executionId, 0, 100)).find(
      (e) => e.type === 'sandbox.finished',
    );
    const payload = finished!.payload as { stdout: string; stderr: string };
    expect(payload.stdout).toHaveLength(4096);
    expect(payload.stderr).toHaveLength(4096);
  });

  it("refuses a resultKey outside the execution's own prefix and charges nothing", async () => {
    // Prepare
    const other = await delivered(JSON.stringify(result()));
    const step = await beginStep('Collect');

    // Act / Assess
    await expect(collectSandbox(collectDeps(), step, collectInput(other.prepared.resultKey))).rejects.toThrow(
      ValidationError,
    );
    expect(await db.store.listCosts(step.executionId)).toEqual([]);
  });
});
