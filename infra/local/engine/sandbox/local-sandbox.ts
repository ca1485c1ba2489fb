import type { ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { SandboxFailedError, ValidationError } from '#shared/errors';
import {
  SANDBOX_LANGUAGES,
  type SandboxLimits,
  type SandboxRequest,
  type SandboxResult,
  type SandboxRunner,
} from '#shared/ports/sandbox';
import {
  childEnv,
  codeFileName,
  findExecutable,
  type Interpreters,
  interpreterArgv,
  isExecutable,
  isLanguage,
} from '../../../../sandbox-image/src/core/interpreter.ts';
import {
  addressSpaceLimit,
  InvalidLimitsError,
  MAX_CODE_BYTES,
  resolveLimits,
} from '../../../../sandbox-image/src/core/limits.ts';
import { prlimitArgs } from '../../../../sandbox-image/src/core/prlimit.ts';
import { type KillReason, killPid, runProcess } from '../../../../sandbox-image/src/core/process.ts';
import { toSandboxResult } from '../../../../sandbox-image/src/core/result.ts';
import { Admission, type NotAdmitted } from './admission.ts';
import { bwrapArgs, probeBwrapFeatures, SANDBOX_CODE_DIR, SANDBOX_WORK_DIR } from './bwrap.ts';
import { systemMounts } from './mounts.ts';
import {
  DEFAULT_HOST_UID,
  INSTALL_BUBBLEWRAP,
  type LocalSandboxMode,
  type LocalSandboxOptions,
} from './options.ts';
import { SECCOMP_FILTER } from './seccomp.ts';

export * from './options.ts';

/** The real path of an existing file; the path unchanged otherwise (spawning it will say what is wrong). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Whether this kernel has a keyring (and so /proc/keys to hide). */
const PROC_KEYS = existsSync('/proc/keys');

const BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * The local adapter of `SandboxRunner`: each run is a fresh bubblewrap sandbox (new user, PID,
 * network, IPC, UTS and cgroup namespaces; only the language runtimes' directories, read-only (an
 * allowlist, mounts.ts); a seccomp filter (seccomp.ts); private size-capped /tmp; cleared environment;
 * uid 65534, no capabilities) with rlimits
 * set by `prlimit` inside it. The runner core (`runProcess`) is the same one the Fargate image runs.
 * Refuses to run when bubblewrap is missing unless `unsafeLocalSandbox` is set.
 *
 * @example
 * const sandbox = new LocalSandbox();
 * const result = await sandbox.run({ language: 'python', code: 'print(6 * 7)', timeoutMs: 5_000 });
 * // result.stdout === '42\n', result.exitCode === 0
 */
export class LocalSandbox implements SandboxRunner {
  readonly #options: LocalSandboxOptions;
  readonly #workRoot: string;
  readonly #hostUid: number;
  readonly #admission: Admission;
  #mode: LocalSandboxMode | undefined;
  #warned = false;

  constructor(options: LocalSandboxOptions = {}) {
    this.#options = options;
    this.#workRoot = options.workRoot ?? join(tmpdir(), `wflo-sandbox-${process.getuid?.() ?? 'user'}`);
    this.#hostUid = options.hostUid ?? DEFAULT_HOST_UID;
    const maxConcurrent = options.maxConcurrent ?? availableParallelism();
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new ValidationError('invalid LocalSandbox options', ['maxConcurrent: must be an integer >= 1']);
    }
    this.#admission = new Admission(maxConcurrent);
    if (!Number.isInteger(this.#hostUid) || this.#hostUid < 1 || this.#hostUid >= 2 ** 31) {
      throw new ValidationError('invalid LocalSandbox options', [
        'hostUid: must be an integer from 1 to 2^31-1',
      ]);
    }
  }

  /** Runs waiting for a sandbox slot now (the `wflo_sandbox_queue_length` of /metrics). */
  get queueLength(): number {
    return this.#admission.waiting;
  }

  /** Sandboxes running now, at most `maxConcurrent`. */
  get running(): number {
    return this.#admission.running;
  }

  /** Where per-run directories are made. */
  get workRoot(): string {
    return this.#workRoot;
  }

  /** The host uid sandboxed processes have, or undefined when they keep this process's uid (not root). */
  get hostUid(): number | undefined {
    return process.getuid?.() === 0 ? this.#hostUid : undefined;
  }

  /**
   * Resolves bubblewrap, prlimit and the interpreters (once).
   * @throws SandboxFailedError when bubblewrap is missing and unsafe mode was not asked for.
   */
  mode(): LocalSandboxMode {
    if (this.#mode) return this.#mode;
    const o = this.#options;
    // Real paths: a symlink through a masked directory would not resolve inside the sandbox.
    const interpreters: Interpreters = {
      python: realPath(o.interpreters?.python ?? findExecutable('python3') ?? 'python3'),
      node: realPath(o.interpreters?.node ?? process.execPath),
    };
    // A configured path that is not executable counts as missing: refuse rather than fail obscurely.
    const bwrapPath =
      o.bwrapPath === undefined ? findExecutable('bwrap', BIN_DIRS) : isExecutable(o.bwrapPath);
    const prlimitPath = o.prlimitPath ?? findExecutable('prlimit', BIN_DIRS);
    if (bwrapPath === undefined) {
      if (!o.unsafeLocalSandbox) {
        throw new SandboxFailedError(
          `bubblewrap (${o.bwrapPath ?? 'bwrap'}) not found: refusing to run untrusted code. ${INSTALL_BUBBLEWRAP}`,
        );
      }
      this.#mode = { kind: 'unsafe', prlimitPath, interpreters };
      return this.#mode;
    }
    if (prlimitPath === undefined) {
      throw new SandboxFailedError('prlimit not found (package util-linux): it sets the sandbox rlimits');
    }
    this.#mode = {
      kind: 'bubblewrap',
      bwrapPath,
      prlimitPath,
      features: probeBwrapFeatures(bwrapPath),
      interpreters,
      mounts: systemMounts([interpreters.python, interpreters.node, realPath(prlimitPath)], homedir()),
    };
    return this.#mode;
  }

  async run(request: SandboxRequest): Promise<SandboxResult> {
    const limits = this.#validate(request);
    const mode = this.mode();
    const queued = performance.now();
    const slot = await this.#admission.acquire(request.timeoutMs, request.signal);
    const waited = Math.round(performance.now() - queued);
    if (typeof slot !== 'function') return notAdmitted(slot, waited);
    try {
      // The wall clock started when the run was asked for: what it waited is gone from its timeout.
      return await this.#runAdmitted(
        { ...request, timeoutMs: Math.max(1, request.timeoutMs - waited) },
        limits,
        mode,
      );
    } finally {
      slot();
    }
  }

  async #runAdmitted(
    request: SandboxRequest,
    limits: SandboxLimits,
    mode: LocalSandboxMode,
  ): Promise<SandboxResult> {
    const runDir = await this.#makeRunDir();
    try {
      const codePath = join(runDir, codeFileName(request.language));
      await writeFile(codePath, request.code, { mode: 0o400 });
      if (this.hostUid !== undefined) {
        await chown(runDir, this.hostUid, this.hostUid);
        await chown(codePath, this.hostUid, this.hostUid);
      }
      return mode.kind === 'bubblewrap'
        ? await this.#runBubblewrap(mode, request, limits, codePath)
        : await this.#runUnsafe(mode, request, limits, codePath, runDir);
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }

  #validate(request: SandboxRequest): SandboxLimits {
    const issues: string[] = [];
    if (!isLanguage(request.language)) {
      issues.push(`language: must be one of ${SANDBOX_LANGUAGES.join(', ')}`);
    }
    if (typeof request.code !== 'string') issues.push('code: must be a string');
    else if (Buffer.byteLength(request.code) > MAX_CODE_BYTES) {
      issues.push(`code: must be at most ${MAX_CODE_BYTES} bytes`);
    }
    if (issues.length > 0) throw new ValidationError('invalid sandbox request', issues);
    try {
      return resolveLimits({ ...request, limits: { ...this.#options.defaultLimits, ...request.limits } });
    } catch (error) {
      if (error instanceof InvalidLimitsError) throw new ValidationError(error.message, error.issues);
      throw error;
    }
  }

  async #makeRunDir(): Promise<string> {
    // 0711: the sandbox's host uid must traverse it to reach its own run folder, not list others.
    await mkdir(this.#workRoot, { recursive: true, mode: 0o711 });
    // In a shared /tmp someone else could have made it first (or as a symlink) to read or swap code.
    const stat = await lstat(this.#workRoot);
    if (!stat.isDirectory() || stat.uid !== process.getuid?.()) {
      throw new SandboxFailedError(
        `sandbox work root ${this.#workRoot} is not a directory owned by this user`,
      );
    }
    await chmod(this.#workRoot, 0o711);
    return mkdtemp(join(this.#workRoot, 'run-'));
  }

  async #runBubblewrap(
    mode: Extract<LocalSandboxMode, { kind: 'bubblewrap' }>,
    request: SandboxRequest,
    limits: SandboxLimits,
    hostCodePath: string,
  ): Promise<SandboxResult> {
    const sandboxCodePath = `${SANDBOX_CODE_DIR}/${codeFileName(request.language)}`;
    const INFO_FD = 3;
    const SECCOMP_FD = 4;
    const args = bwrapArgs({
      features: mode.features,
      hostCodePath,
      sandboxCodePath,
      mounts: mode.mounts,
      tmpBytes: limits.tmpBytes,
      env: childEnv(SANDBOX_WORK_DIR),
      infoFd: INFO_FD,
      seccompFd: SECCOMP_FD,
      hideProcKeys: PROC_KEYS,
      command: [
        // Inside the sandbox, so RLIMIT_NPROC counts this sandbox's user namespace only (and bwrap's
        // own setup is not squeezed by the limits).
        ...prlimitArgs(mode.prlimitPath, limits, addressSpaceLimit(request.language, limits)),
        ...interpreterArgv(request.language, sandboxCodePath, limits, mode.interpreters),
      ],
    });
    // The program, PID 1 of its namespace (--as-pid-1): killing it takes every process inside with it.
    let sandboxInit: number | undefined;
    const onSpawn = (child: ChildProcess): void => {
      // bwrap reads the filter to EOF before it executes the program. If it dies first, the write
      // fails with EPIPE, which the run's own result already reports.
      const seccomp = child.stdio[SECCOMP_FD] as Writable | null | undefined;
      seccomp?.on('error', () => {});
      seccomp?.end(SECCOMP_FILTER);
      let info = '';
      child.stdio[INFO_FD]?.on('data', (chunk: Buffer) => {
        info += chunk.toString('utf8');
        const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
        if (match) sandboxInit = Number(match[1]);
      });
    };
    const killExtra = (reason: KillReason): boolean => {
      // After exit bwrap has reaped the program, and the pid may already be someone else's.
      if (reason === 'exited' || sandboxInit === undefined) return false;
      // Kill the program (its namespace's PID 1, so everything inside goes with it) and let bwrap
      // reap it and exit: killing bwrap at the same moment would orphan a zombie to the host's init.
      killPid(sandboxInit);
      return true;
    };
    const outcome = await this.#spawn(mode.bwrapPath, args, request, limits, {
      onSpawn,
      killExtra,
      extraPipes: 2,
    });
    return toSandboxResult(outcome, outcome.timedOut ? 'SIGKILL' : undefined);
  }

  async #runUnsafe(
    mode: Extract<LocalSandboxMode, { kind: 'unsafe' }>,
    request: SandboxRequest,
    limits: SandboxLimits,
    codePath: string,
    runDir: string,
  ): Promise<SandboxResult> {
    if (!this.#warned) {
      this.#warned = true;
      (this.#options.onWarning ?? ((m: string) => process.emitWarning(m, 'WfloUnsafeSandbox')))(
        `running untrusted code WITHOUT a sandbox (--unsafe-local-sandbox): no filesystem, network or ` +
          `process isolation. ${INSTALL_BUBBLEWRAP}`,
      );
    }
    const workDir = join(runDir, 'work');
    await mkdir(workDir, { mode: 0o700 });
    if (this.hostUid !== undefined) await chown(workDir, this.hostUid, this.hostUid);
    const argv = interpreterArgv(request.language, codePath, limits, mode.interpreters);
    // Without a user namespace RLIMIT_NPROC counts every process of the real uid, so it is only
    // meaningful when we switched to the dedicated sandbox uid.
    const rlimits =
      mode.prlimitPath === undefined
        ? []
        : prlimitArgs(mode.prlimitPath, limits, addressSpaceLimit(request.language, limits)).filter(
            (a) => this.hostUid !== undefined || !a.startsWith('--nproc='),
          );
    const [command, ...args] = [...rlimits, ...argv] as [string, ...string[]];
    const env = childEnv(workDir);
    const outcome = await this.#spawn(command, args, request, limits, { cwd: workDir, env });
    return toSandboxResult(outcome, outcome.timedOut ? 'SIGKILL' : undefined);
  }

  #spawn(
    command: string,
    args: readonly string[],
    request: SandboxRequest,
    limits: SandboxLimits,
    extra: {
      cwd?: string;
      env?: Record<string, string>;
      onSpawn?: (child: ChildProcess) => void;
      killExtra?: (reason: KillReason) => boolean;
      extraPipes?: number;
    },
  ) {
    const uid = this.hostUid;
    return runProcess({
      command,
      args,
      cwd: extra.cwd ?? '/',
      // bwrap itself needs nothing from us; the program's environment is set inside (--setenv).
      env: extra.env ?? {},
      timeoutMs: request.timeoutMs,
      maxOutputBytes: limits.maxOutputBytes,
      ...(uid === undefined ? {} : { uid, gid: uid }),
      ...(extra.onSpawn ? { onSpawn: extra.onSpawn } : {}),
      ...(extra.killExtra ? { killExtra: extra.killExtra } : {}),
      ...(extra.extraPipes ? { extraPipes: extra.extraPipes } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    }).catch((error: unknown) => {
      throw new SandboxFailedError(`could not start the sandbox (${command}): ${String(error)}`, {
        cause: error,
      });
    });
  }
}

/**
 * The result of a run that left the queue before it got a sandbox: what a run killed at its timeout
 * (or by an abort) reports, with nothing printed, so callers see one kind of timeout.
 */
function notAdmitted(reason: NotAdmitted, waitedMs: number): SandboxResult {
  return {
    exitCode: 137,
    signal: 'SIGKILL',
    stdout: '',
    stderr: '',
    truncated: false,
    timedOut: reason === 'timeout',
    durationMs: waitedMs,
  };
}
