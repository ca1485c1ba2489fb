import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { OutputCap } from './output-cap.ts';

/** How to start one untrusted process and how long to let it live. */
export interface ProcessSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The child's whole environment: nothing of the parent's is passed on. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Bytes kept of stdout and of stderr each. */
  readonly maxOutputBytes: number;
  /** Run as this uid/gid (supplementary groups are dropped); only root can ask. */
  readonly uid?: number;
  readonly gid?: number;
  /** Aborting kills the process tree like a timeout does, without flagging `timedOut`. */
  readonly signal?: AbortSignal;
  /** Extra pipes from the child after stdin/stdout/stderr (fd 3, 4, ...): handed to `onSpawn`. */
  readonly extraPipes?: number;
  /** Called once the process exists, with its extra pipes. */
  readonly onSpawn?: (child: ChildProcess) => void;
  /**
   * Kills whatever the process group kill cannot reach (e.g. a sandbox's init, or every process in a
   * private PID namespace). Called on timeout, on abort and once more after exit (`'exited'`: the
   * process is reaped then, so a pid remembered from it may already name someone else).
   * Returning true on timeout/abort means "handled, the process will exit by itself": the group kill
   * then waits `groupKillDelayMs`, so a sandbox wrapper can reap what it ran before it goes.
   */
  readonly killExtra?: (reason: KillReason) => boolean;
  /** @default 500 */
  readonly groupKillDelayMs?: number;
  /** How long to wait for stdout/stderr to close once the process has exited. @default 2000 */
  readonly closeGraceMs?: number;
}

export type KillReason = 'timeout' | 'abort' | 'exited';

/** What a process did, before it is shaped into a `SandboxResult`. */
export interface ProcessOutcome {
  /** Exit status, or 128 + signal number when a signal ended it. */
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: OutputCap;
  readonly stderr: OutputCap;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly durationMs: number;
}

/** The shell's convention for a process a signal ended: 128 + its number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal === null ? undefined : constants.signals[signal];
  return 128 + (number ?? 0);
}

/** Sends SIGKILL to a process group, ignoring "no such process" (it is already gone). */
export function killGroup(pgid: number | undefined): void {
  if (pgid === undefined || pgid <= 1) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Sends SIGKILL to one process, ignoring "no such process". */
export function killPid(pid: number | undefined): void {
  if (pid === undefined || pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Runs a process in its own process group with a wall-clock limit, capped output and no inherited
 * environment. The returned promise settles only when the process has exited and its group has been
 * killed, so nothing it started outlives the call (short of leaving the group, which the caller's
 * `killExtra` or the sandbox's PID namespace handles).
 *
 * @throws the spawn error (ENOENT, EACCES) when the process cannot start at all.
 */
export function runProcess(spec: ProcessSpec): Promise<ProcessOutcome> {
  return new Promise((resolve, reject) => {
    const stdout = new OutputCap(spec.maxOutputBytes);
    const stderr = new OutputCap(spec.maxOutputBytes);
    const started = performance.now();
    let timedOut = false;
    let aborted = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | undefined;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;

    const child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...spec.env },
      // Its own process group (pgid = pid), so one kill reaches everything it forks.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(spec.extraPipes ?? 0).fill('pipe')],
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.gid === undefined ? {} : { gid: spec.gid }),
    });

    let groupKillTimer: NodeJS.Timeout | undefined;
    const killTree = (reason: KillReason): void => {
      let handled = false;
      try {
        handled = spec.killExtra?.(reason) ?? false;
      } finally {
        if (handled && reason !== 'exited') {
          groupKillTimer = setTimeout(() => killGroup(child.pid), spec.groupKillDelayMs ?? 500);
        } else {
          killGroup(child.pid);
        }
      }
    };

    const timer = setTimeout(() => {
      if (exit !== undefined) return;
      timedOut = true;
      killTree('timeout');
    }, spec.timeoutMs);
    const onAbort = (): void => {
      if (exit !== undefined) return;
      aborted = true;
      killTree('abort');
    };
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    if (spec.signal?.aborted) onAbort();

    const finish = (): void => {
      if (settled || exit === undefined) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      spec.signal?.removeEventListener('abort', onAbort);
      for (const stream of child.stdio) stream?.destroy();
      resolve({
        exitCode: exitCodeOf(exit.code, exit.signal),
        signal: exit.signal,
        stdout,
        stderr,
        timedOut,
        aborted,
        durationMs: Math.round(exit.at - started),
      });
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => {
      if (exit !== undefined || settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      killGroup(child.pid);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal, at: performance.now() };
      clearTimeout(timer);
      clearTimeout(groupKillTimer);
      // Whatever it left running in its group (daemons, a fork bomb's survivors) goes now.
      killTree('exited');
      // stdout/stderr close once every holder is gone; don't wait forever for one that escaped.
      graceTimer = setTimeout(finish, spec.closeGraceMs ?? 2000);
    });
    child.once('close', finish);
    if (child.pid !== undefined) spec.onSpawn?.(child);
  });
}
