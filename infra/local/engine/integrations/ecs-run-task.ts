import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { SandboxFailedError, ValidationError } from '#shared/errors';
import type { SandboxLimits, SandboxResult, SandboxRunner } from '#shared/ports/sandbox';
import { type ResultTarget, readSettings, redactUrl } from '../../../../sandbox-image/src/config.ts';
import { isLanguage, LANGUAGES } from '../../../../sandbox-image/src/core/interpreter.ts';
import { MAX_CODE_BYTES } from '../../../../sandbox-image/src/core/limits.ts';
import { failedResult } from '../../../../sandbox-image/src/core/result.ts';
import { deliverResult, loadCode } from '../../../../sandbox-image/src/io.ts';
import type { LocalIntegration, LocalIntegrationContext } from '../orchestrator.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../workflows.ts';

/** The Task `Resource` this integration stands in for. */
export const ECS_RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';
/** The sandbox container's name in the task definition (`SANDBOX_CONTAINER` in infra/constructs/sandbox-task.ts). */
export const SANDBOX_CONTAINER_NAME = 'sandbox';

const ParametersSchema = z.object({
  Cluster: z.string().min(1),
  TaskDefinition: z.string().min(1),
  LaunchType: z.string().optional(),
  NetworkConfiguration: z.unknown().optional(),
  Overrides: z.object({
    ContainerOverrides: z
      .array(
        z.object({
          Name: z.string(),
          Environment: z.array(z.object({ Name: z.string(), Value: z.string() })).default([]),
        }),
      )
      .min(1),
  }),
});

export interface EcsRunTaskOptions {
  /** Runs the program: the local bubblewrap sandbox. */
  readonly sandbox: SandboxRunner;
  /**
   * Maps a `file://` code or result URL to a path, or refuses it (undefined). Only the local artifacts
   * directory's own URLs are accepted, so a workflow cannot make wflo read or overwrite other host files.
   * @default every file:// URL is refused
   */
  readonly filePath?: (url: string) => string | undefined;
  /** The task size reported as `Cpu`/`Memory` (what Fargate would bill). */
  readonly taskSize: { readonly cpu: number; readonly memoryMiB: number };
  /** @default Date.now */
  readonly now?: () => number;
}

/** The failure Step Functions reports for a `.sync` task whose essential container did not exit 0. */
class TaskFailedError extends Error {
  override name = 'States.TaskFailed';
}

/** The runner's exit statuses (sandbox-image/src/runner.ts): delivered, not delivered, invalid invocation. */
const EXIT_DELIVERED = 0;
const EXIT_NOT_DELIVERED = 1;
const EXIT_INVALID = 2;

type Invocation = {
  readonly language: (typeof LANGUAGES)[number];
  readonly code:
    | { kind: 'inline'; gzB64: string }
    | { kind: 'url'; url: string }
    | { kind: 'file'; path: string };
  readonly result: ResultTarget;
  readonly timeoutMs: number;
  readonly limits: Partial<SandboxLimits>;
};

/**
 * The local stand-in for `arn:aws:states:::ecs:runTask.sync` on the sandbox task: it reads the runner's
 * settings from the sandbox container's environment override, exactly as the Fargate runner
 * (`sandbox-image/src/runner.ts`) would, runs the program once in the local sandbox, delivers the result
 * to the result URL, and returns the stopped task the way Step Functions does (the ECS `Task` shape:
 * `TaskArn`, `Cpu`, `Memory`, `CreatedAt`/`StoppedAt` in epoch milliseconds, `Containers[0].ExitCode`...).
 *
 * As on AWS, what the program did is in the result, not in the task: the container exits 0 once the
 * result is delivered. A container that exits otherwise (result not deliverable: 1; invalid settings: 2)
 * fails the state with `States.TaskFailed` and the task as JSON in the cause. When the sandbox cannot run
 * at all (bubblewrap missing without `--unsafe-local-sandbox`), the state fails with `States.TaskFailed`
 * and the refusal, in plain words, as the cause. Aborting (state timeout, cancelled execution) kills the
 * program.
 *
 * Code and result URLs may be `file://` URLs of the local artifacts directory or http(s) URLs (then
 * fetched and uploaded as the runner does, e.g. presigned S3 URLs when ARTIFACTS_BUCKET is set locally).
 */
export function ecsRunTaskIntegration(options: EcsRunTaskOptions): LocalIntegration {
  const now = options.now ?? Date.now;
  return async (raw: unknown, context: LocalIntegrationContext) => {
    const parsed = ParametersSchema.safeParse(raw);
    if (!parsed.success) {
      const error = new Error(
        `invalid RunTask parameters: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
      error.name = 'ECS.InvalidParameterException';
      throw error;
    }
    const params = parsed.data;
    const override = params.Overrides.ContainerOverrides.find((o) => o.Name === SANDBOX_CONTAINER_NAME);
    if (!override || params.Overrides.ContainerOverrides.length > 1) {
      const error = new Error(
        `Override for container named ${params.Overrides.ContainerOverrides.find((o) => o.Name !== SANDBOX_CONTAINER_NAME)?.Name ?? '?'} is not a container in the TaskDefinition (it has '${SANDBOX_CONTAINER_NAME}' only).`,
      );
      error.name = 'ECS.InvalidParameterException';
      throw error;
    }

    const createdAt = now();
    const taskId = randomUUID().replaceAll('-', '');
    const cluster = params.Cluster.split('/').at(-1) ?? params.Cluster;
    const taskArn = `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:task/${cluster}/${taskId}`;
    const stopped = (exitCode: number, reason?: string) => {
      const stoppedAt = now();
      return {
        TaskArn: taskArn,
        ClusterArn: params.Cluster,
        TaskDefinitionArn: params.TaskDefinition,
        LaunchType: params.LaunchType ?? 'FARGATE',
        Cpu: String(options.taskSize.cpu),
        Memory: String(options.taskSize.memoryMiB),
        LastStatus: 'STOPPED',
        DesiredStatus: 'STOPPED',
        StartedBy: 'AWS Step Functions',
        StopCode: 'EssentialContainerExited',
        StoppedReason: 'Essential container in task exited',
        CreatedAt: createdAt,
        PullStartedAt: createdAt,
        PullStoppedAt: createdAt,
        StartedAt: createdAt,
        StoppingAt: stoppedAt,
        StoppedAt: stoppedAt,
        ExecutionStoppedAt: stoppedAt,
        Containers: [
          {
            Name: SANDBOX_CONTAINER_NAME,
            TaskArn: taskArn,
            LastStatus: 'STOPPED',
            ExitCode: exitCode,
            ...(reason ? { Reason: reason.slice(0, 255) } : {}),
          },
        ],
        Overrides: {
          ContainerOverrides: [{ Name: SANDBOX_CONTAINER_NAME, Environment: redacted(override.Environment) }],
        },
      };
    };
    const fail = (exitCode: number, reason: string): never => {
      throw new TaskFailedError(JSON.stringify(stopped(exitCode, reason)));
    };

    const env = Object.fromEntries(override.Environment.map((e) => [e.Name, e.Value]));
    let invocation: Invocation;
    try {
      invocation = parseInvocation(env, options.filePath);
    } catch (error) {
      return fail(EXIT_INVALID, (error as Error).message);
    }

    let result: SandboxResult;
    const started = performance.now();
    try {
      const code = await loadProgram(invocation.code);
      result = await options.sandbox.run({
        language: invocation.language,
        code,
        timeoutMs: invocation.timeoutMs,
        limits: invocation.limits,
        signal: context.signal,
      });
    } catch (error) {
      if (error instanceof SandboxFailedError) {
        // The sandbox itself cannot run here (no bubblewrap, cannot start): say so plainly.
        throw new TaskFailedError(`local sandbox: ${error.message}`);
      }
      if (error instanceof ValidationError) return fail(EXIT_INVALID, error.message);
      // As the runner does: a program that cannot be loaded is a result, not a task failure.
      result = failedResult((error as Error).message, Math.round(performance.now() - started));
    }
    if (context.signal.aborted)
      return fail(137, 'task stopped: the state timed out or the execution was cancelled');
    try {
      await deliverResult(result, invocation.result);
    } catch (error) {
      return fail(EXIT_NOT_DELIVERED, `result not delivered: ${(error as Error).message}`);
    }
    return stopped(EXIT_DELIVERED);
  };
}

/** The environment as the task output shows it, with URL signatures blanked. */
function redacted(env: readonly { Name: string; Value: string }[]) {
  return env.map((e) => ({ Name: e.Name, Value: /_URL$/.test(e.Name) ? redactUrl(e.Value) : e.Value }));
}

function parseInvocation(
  env: Record<string, string>,
  filePath: ((url: string) => string | undefined) | undefined,
): Invocation {
  const s = readSettings([], env);
  const issues: string[] = [];
  if (!isLanguage(s.WFLO_LANGUAGE)) issues.push(`WFLO_LANGUAGE: must be one of ${LANGUAGES.join(', ')}`);
  const local = (name: string, url: string): string | undefined => {
    const path = filePath?.(url);
    if (path === undefined)
      issues.push(`${name}: a file:// URL must name a file in the local artifacts directory`);
    return path;
  };

  let code: Invocation['code'] | undefined;
  if ((s.WFLO_CODE_GZ_B64 === undefined) === (s.WFLO_CODE_URL === undefined)) {
    issues.push('exactly one of WFLO_CODE_GZ_B64 and WFLO_CODE_URL must be set');
  } else if (s.WFLO_CODE_GZ_B64 !== undefined) {
    code = { kind: 'inline', gzB64: s.WFLO_CODE_GZ_B64 };
  } else if (/^https?:\/\//.test(s.WFLO_CODE_URL!)) {
    code = { kind: 'url', url: s.WFLO_CODE_URL! };
  } else if (s.WFLO_CODE_URL!.startsWith('file:')) {
    const path = local('WFLO_CODE_URL', s.WFLO_CODE_URL!);
    if (path) code = { kind: 'file', path };
  } else issues.push('WFLO_CODE_URL: must be an http(s) or file:// URL');

  let result: ResultTarget | undefined;
  if (s.WFLO_RESULT_FILE !== undefined)
    issues.push('WFLO_RESULT_FILE: not accepted locally; use WFLO_RESULT_URL');
  else if (s.WFLO_RESULT_URL === undefined) issues.push('WFLO_RESULT_URL must be set');
  else if (/^https?:\/\//.test(s.WFLO_RESULT_URL)) result = { kind: 'url', url: s.WFLO_RESULT_URL };
  else if (s.WFLO_RESULT_URL.startsWith('file:')) {
    const path = local('WFLO_RESULT_URL', s.WFLO_RESULT_URL);
    if (path) result = { kind: 'file', path };
  } else issues.push('WFLO_RESULT_URL: must be an http(s) or file:// URL');

  const int = (name: keyof typeof s): number | undefined => {
    const raw = s[name];
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) issues.push(`${name}: must be a whole number`);
    return Number(raw);
  };
  const timeoutMs = int('WFLO_TIMEOUT_MS') ?? 30_000;
  const limits: Partial<SandboxLimits> = Object.fromEntries(
    Object.entries({
      memoryBytes: int('WFLO_MEMORY_BYTES'),
      maxProcesses: int('WFLO_MAX_PROCESSES'),
      maxFileBytes: int('WFLO_MAX_FILE_BYTES'),
      maxOutputBytes: int('WFLO_MAX_OUTPUT_BYTES'),
    }).filter(([, v]) => v !== undefined),
  );
  if (issues.length > 0 || !code || !result || !isLanguage(s.WFLO_LANGUAGE)) {
    throw new Error(`invalid runner configuration: ${issues.join('; ')}`);
  }
  return { language: s.WFLO_LANGUAGE, code, result, timeoutMs, limits };
}

/** Reads the program: inline, over HTTP like the runner, or from the artifacts directory (at most the runner's cap). */
async function loadProgram(source: Invocation['code']): Promise<string> {
  if (source.kind !== 'file') return loadCode(source);
  const handle = await open(source.path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_CODE_BYTES) throw new Error(`code is larger than ${MAX_CODE_BYTES} bytes`);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
