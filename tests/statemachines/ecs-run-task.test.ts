/**
 * The local stand-in for `ecs:runTask.sync` on its own: the settings it reads from the container override,
 * the URLs it accepts, the task it returns and how it fails, against the real local sandbox (bubblewrap
 * where installed; the tests' own programs otherwise run without it).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import { LocalSandbox } from '#local/engine/sandbox/local-sandbox';
import {
  ecsRunTaskIntegration,
  SANDBOX_CONTAINER_NAME,
} from '../../infra/local/engine/integrations/ecs-run-task.ts';
import type { LocalIntegrationContext } from '../../infra/local/engine/orchestrator.ts';
import { encodeInlineCode } from '../../sandbox-image/src/io.ts';

let root: string;
let artifacts: LocalArtifacts;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'wflo-ecs-run-task-'));
  artifacts = new LocalArtifacts(join(root, 'artifacts'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const integration = ecsRunTaskIntegration({
  sandbox: new LocalSandbox({ unsafeLocalSandbox: true, onWarning: () => {} }),
  filePath: (url) => artifacts.pathOf(url),
  taskSize: { cpu: 1024, memoryMiB: 2048 },
});

const context = (signal = new AbortController().signal): LocalIntegrationContext => ({
  executionId: 'e',
  workflow: 'code-execution',
  stateName: 'Run',
  enteredTime: new Date().toISOString(),
  attempt: 0,
  signal,
});

/** RunTask parameters as the ASL resolves them, with this environment for the sandbox container. */
const params = (env: Record<string, string>, name = SANDBOX_CONTAINER_NAME) => ({
  Cluster: 'local-SandboxCluster',
  TaskDefinition: 'local-SandboxTaskDefinition',
  LaunchType: 'FARGATE',
  NetworkConfiguration: {
    AwsvpcConfiguration: { Subnets: ['local-SandboxSubnets'], SecurityGroups: ['sg'] },
  },
  Overrides: {
    ContainerOverrides: [
      { Name: name, Environment: Object.entries(env).map(([Name, Value]) => ({ Name, Value })) },
    ],
  },
});

/** A program in the artifacts directory and a result URL next to it. */
async function prepared(code: string) {
  const dir = `executions/e/sandbox/${n++}`;
  await artifacts.put(`${dir}/code.js`, code, 'text/javascript');
  return {
    codeUrl: await artifacts.presignGet(`${dir}/code.js`),
    resultUrl: await artifacts.presignPut(`${dir}/result.json`),
    resultPath: join(artifacts.root, dir, 'result.json'),
  };
}

const failure = async (promise: Promise<unknown>) => {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as Error | undefined;
  expect(error).toBeInstanceOf(Error);
  return error!;
};

describe('Integration: local ecs:runTask.sync', () => {
  it('runs the program, delivers its result and returns the stopped task as Step Functions does', async () => {
    // Prepare
    const p = await prepared('console.log("hi")');

    // Act
    const task = (await integration(
      params({
        WFLO_LANGUAGE: 'javascript',
        WFLO_CODE_URL: p.codeUrl,
        WFLO_RESULT_URL: p.resultUrl,
        WFLO_TIMEOUT_MS: '5000',
      }),
      context(),
    )) as Record<string, unknown>;

    // Assess
    expect(task).toMatchObject({
      TaskArn: expect.stringMatching(
        /^arn:aws:ecs:us-east-1:000000000000:task\/local-SandboxCluster\/[0-9a-f]{32}$/,
      ),
      Cpu: '1024',
      Memory: '2048',
      LastStatus: 'STOPPED',
      StopCode: 'EssentialContainerExited',
      Containers: [{ Name: SANDBOX_CONTAINER_NAME, ExitCode: 0, LastStatus: 'STOPPED' }],
    });
    expect(task.StoppedAt as number).toBeGreaterThanOrEqual(task.CreatedAt as number);
    expect(JSON.parse(await readFile(p.resultPath, 'utf8'))).toMatchObject({
      exitCode: 0,
      stdout: 'hi\n',
      timedOut: false,
    });
  });

  it('takes inline code (WFLO_CODE_GZ_B64) as the runner does', async () => {
    const p = await prepared('');
    await integration(
      params({
        WFLO_LANGUAGE: 'javascript',
        WFLO_CODE_GZ_B64: encodeInlineCode('console.log(2 + 2)'),
        WFLO_RESULT_URL: p.resultUrl,
      }),
      context(),
    );
    expect(JSON.parse(await readFile(p.resultPath, 'utf8'))).toMatchObject({ stdout: '4\n' });
  });

  it('refuses file:// URLs outside the artifacts directory: the container exits 2, nothing is read or written', async () => {
    // Prepare: a host file the program must never get, and a place it must never write.
    const secret = join(root, 'secret.js');
    await writeFile(secret, 'console.log("leaked")');
    const target = join(root, 'overwritten.json');

    // Act
    const error = await failure(
      integration(
        params({
          WFLO_LANGUAGE: 'javascript',
          WFLO_CODE_URL: pathToFileURL(secret).href,
          WFLO_RESULT_URL: pathToFileURL(target).href,
        }),
        context(),
      ),
    );

    // Assess
    expect(error.name).toBe('States.TaskFailed');
    const task = JSON.parse(error.message) as { Containers: { ExitCode: number; Reason: string }[] };
    expect(task.Containers[0]!.ExitCode).toBe(2);
    expect(task.Containers[0]!.Reason).toMatch(
      /WFLO_CODE_URL: a file:\/\/ URL must name a file in the local artifacts directory/,
    );
    await expect(readFile(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('reports code that cannot be loaded as a result (exit 127), like the runner', async () => {
    const p = await prepared('');
    const missing = await artifacts.presignGet('executions/e/none/code.js');
    await integration(
      params({ WFLO_LANGUAGE: 'javascript', WFLO_CODE_URL: missing, WFLO_RESULT_URL: p.resultUrl }),
      context(),
    );
    expect(JSON.parse(await readFile(p.resultPath, 'utf8'))).toMatchObject({
      exitCode: 127,
      stderr: expect.stringMatching(/^wflo sandbox: .*ENOENT/),
    });
  });

  it('fails with States.TaskFailed (exit 1) when the result cannot be delivered', async () => {
    // Prepare: a result URL inside the directory whose folder does not exist.
    const p = await prepared('console.log(1)');
    const nowhere = pathToFileURL(join(artifacts.root, 'executions/e/no-such-dir/result.json')).href;

    // Act
    const error = await failure(
      integration(
        params({ WFLO_LANGUAGE: 'javascript', WFLO_CODE_URL: p.codeUrl, WFLO_RESULT_URL: nowhere }),
        context(),
      ),
    );

    // Assess
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({
      Containers: [{ ExitCode: 1, Reason: expect.stringMatching(/^result not delivered/) }],
    });
  });

  it('rejects an override for a container the task definition does not have', async () => {
    const p = await prepared('console.log(1)');
    const error = await failure(
      integration(
        params(
          { WFLO_LANGUAGE: 'javascript', WFLO_CODE_URL: p.codeUrl, WFLO_RESULT_URL: p.resultUrl },
          'app',
        ),
        context(),
      ),
    );
    expect(error.name).toBe('ECS.InvalidParameterException');
  });

  it('kills the program when the attempt is aborted (state timeout or cancelled execution)', async () => {
    // Prepare
    const p = await prepared('setInterval(() => {}, 1000)');
    const abort = new AbortController();

    // Act
    const t0 = Date.now();
    const running = integration(
      params({
        WFLO_LANGUAGE: 'javascript',
        WFLO_CODE_URL: p.codeUrl,
        WFLO_RESULT_URL: p.resultUrl,
        WFLO_TIMEOUT_MS: '60000',
      }),
      context(abort.signal),
    );
    setTimeout(() => abort.abort(), 300);
    const error = await failure(running);

    // Assess: it ended long before the program's 60 s.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(error.name).toBe('States.TaskFailed');
    expect(JSON.parse(error.message)).toMatchObject({ Containers: [{ ExitCode: 137 }] });
  });

  it('fails with the refusal in plain words when bubblewrap is missing and unsafe mode is off', async () => {
    // Prepare
    const refusing = ecsRunTaskIntegration({
      sandbox: new LocalSandbox({ bwrapPath: join(root, 'no-bwrap') }),
      filePath: (url) => artifacts.pathOf(url),
      taskSize: { cpu: 512, memoryMiB: 1024 },
    });
    const p = await prepared('console.log(1)');

    // Act
    const error = await failure(
      refusing(
        params({ WFLO_LANGUAGE: 'javascript', WFLO_CODE_URL: p.codeUrl, WFLO_RESULT_URL: p.resultUrl }),
        context(),
      ),
    );

    // Assess
    expect(error.name).toBe('States.TaskFailed');
    expect(error.message).toMatch(
      /^local sandbox: bubblewrap .* not found: refusing to run untrusted code\./,
    );
    expect(error.message).toContain('--unsafe-local-sandbox');
  });
});
