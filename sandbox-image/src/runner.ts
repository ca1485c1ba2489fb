/**
 * The sandbox runner: the entry point of the Fargate sandbox image (bundled to `dist/runner.mjs`).
 * It loads one program (inline gzip+base64 or a presigned GET URL), runs it once in a fresh directory
 * under /tmp with a cleared environment, rlimits, capped output and a wall-clock timeout that kills
 * the whole process group, then delivers `{exitCode, stdout, stderr, truncated, timedOut, durationMs}`
 * to a presigned PUT URL or a file. It holds no credentials and passes nothing of its own on.
 *
 * Exit status: 0 when a result was delivered (whatever the program did), 1 when it could not be
 * delivered, 2 when the invocation itself is invalid.
 */
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseRunnerConfig, type RunnerConfig, RunnerConfigError } from './config.ts';
import type { SandboxResult } from './contract.ts';
import { childEnv, codeFileName, findExecutable, interpreterArgv } from './core/interpreter.ts';
import { addressSpaceLimit } from './core/limits.ts';
import { prlimitArgs } from './core/prlimit.ts';
import { runProcess } from './core/process.ts';
import { failedResult, toSandboxResult } from './core/result.ts';
import { deliverResult, type Fetch, loadCode } from './io.ts';

/** Who runs the program when the runner itself is root (it should not be, but never run code as root). */
export const FALLBACK_CHILD_UID = 65534;

export interface RunnerDeps {
  readonly fetch?: Fetch;
  /** One line of JSON per event, to stderr by default (stdout may carry the result). */
  readonly log?: (entry: Record<string, unknown>) => void;
  /** Aborting kills the program (the container got SIGTERM). */
  readonly signal?: AbortSignal;
}

const defaultLog = (entry: Record<string, unknown>): void => {
  process.stderr.write(`${JSON.stringify({ service: 'wflo-sandbox-runner', ...entry })}\n`);
};

/** Removes a directory tree even if the program took away its own permissions on parts of it. */
async function forceRemove(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch {
    const walk = async (d: string): Promise<void> => {
      await chmod(d, 0o700).catch(() => undefined);
      for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory()) await walk(join(d, entry.name));
      }
    };
    await walk(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the program once and shapes what it did. The working directory is fresh, private and gone
 * afterwards; the process group (and, with `privatePidNamespace`, every process the runner may
 * signal) is killed when the program exits or the timeout passes.
 */
export async function executeProgram(
  config: RunnerConfig,
  code: string,
  signal?: AbortSignal,
): Promise<SandboxResult> {
  const childUid = process.getuid?.() === 0 ? FALLBACK_CHILD_UID : undefined;
  const workDir = await mkdtemp(join(config.workRoot, 'wflo-run-'));
  try {
    await chmod(workDir, 0o700);
    const codePath = join(workDir, codeFileName(config.language));
    await writeFile(codePath, code, { mode: 0o600 });
    if (childUid !== undefined) {
      await chown(workDir, childUid, childUid);
      await chown(codePath, childUid, childUid);
    }
    const interpreters = { python: findExecutable('python3') ?? 'python3', node: process.execPath };
    const prlimit = findExecutable('prlimit', ['/usr/bin', '/bin', '/usr/local/bin']);
    const argv = [
      ...(prlimit
        ? prlimitArgs(prlimit, config.limits, addressSpaceLimit(config.language, config.limits))
        : []),
      ...interpreterArgv(config.language, codePath, config.limits, interpreters),
    ];
    const [command, ...args] = argv as [string, ...string[]];
    const outcome = await runProcess({
      command,
      args,
      cwd: workDir,
      env: childEnv(workDir),
      timeoutMs: config.timeoutMs,
      maxOutputBytes: config.limits.maxOutputBytes,
      ...(childUid === undefined ? {} : { uid: childUid, gid: childUid }),
      ...(signal ? { signal } : {}),
      ...(config.privatePidNamespace
        ? {
            killExtra: () => {
              // Alone in this PID namespace: everything we may signal is the program's.
              try {
                process.kill(-1, 'SIGKILL');
              } catch {
                // ESRCH: nothing left
              }
              return false;
            },
          }
        : {}),
    });
    return toSandboxResult(outcome, outcome.timedOut ? 'SIGKILL' : undefined);
  } finally {
    await forceRemove(workDir);
  }
}

/** One full runner invocation; returns the runner's exit status. */
export async function runRunner(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  deps: RunnerDeps = {},
): Promise<number> {
  const log = deps.log ?? defaultLog;
  let config: RunnerConfig;
  try {
    config = parseRunnerConfig(argv, env);
  } catch (error) {
    log({ level: 'ERROR', message: (error as Error).message });
    return error instanceof RunnerConfigError ? 2 : 1;
  }
  const started = performance.now();
  let result: SandboxResult;
  try {
    const code = await loadCode(config.code, deps.fetch ? { fetch: deps.fetch } : {});
    result = await executeProgram(config, code, deps.signal);
  } catch (error) {
    result = failedResult((error as Error).message, Math.round(performance.now() - started));
  }
  try {
    await deliverResult(result, config.result, deps.fetch ? { fetch: deps.fetch } : {});
  } catch (error) {
    log({ level: 'ERROR', message: `result not delivered: ${(error as Error).message}` });
    return 1;
  }
  log({
    level: 'INFO',
    message: 'sandbox run finished',
    language: config.language,
    exitCode: result.exitCode,
    timedOut: result.timedOut,
    truncated: result.truncated,
    durationMs: result.durationMs,
  });
  return 0;
}

/** Entry point when executed as a script (`node runner.mjs`). */
async function main(): Promise<void> {
  const abort = new AbortController();
  // As a container's PID 1, Node ignores SIGTERM unless it listens: ECS stop → kill the program.
  process.once('SIGTERM', () => abort.abort());
  process.once('SIGINT', () => abort.abort());
  process.exitCode = await runRunner(process.argv.slice(2), process.env, { signal: abort.signal });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
