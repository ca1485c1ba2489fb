/**
 * Port: run untrusted code once and report what happened. Adapters: the local process sandbox
 * (bubblewrap, `infra/local/engine/sandbox/local-sandbox.ts`) and, on AWS, a Fargate task running
 * `sandbox-image/` (driven by Step Functions, not by this interface).
 */

/** Languages the sandbox runs. */
export const SANDBOX_LANGUAGES = ['python', 'javascript'] as const;
export type SandboxLanguage = (typeof SANDBOX_LANGUAGES)[number];

/** Resource limits for one run. Every field has a default (see `DEFAULT_LIMITS`). */
export interface SandboxLimits {
  /** CPU seconds per process (RLIMIT_CPU); a backstop behind the wall-clock timeout. */
  readonly cpuSeconds: number;
  /** Address space per process in bytes (RLIMIT_AS); for JavaScript also the V8 old-space size. */
  readonly memoryBytes: number;
  /** Processes and threads the program may have at once (RLIMIT_NPROC, counted per sandbox). */
  readonly maxProcesses: number;
  /** Largest file the program may write (RLIMIT_FSIZE). */
  readonly maxFileBytes: number;
  /** Size of the private /tmp (local sandbox; tmpfs). */
  readonly tmpBytes: number;
  /** Bytes kept of stdout and of stderr each; the rest is drained and dropped (`truncated`). */
  readonly maxOutputBytes: number;
}

export interface SandboxRequest {
  readonly language: SandboxLanguage;
  /** Program source, UTF-8. */
  readonly code: string;
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  readonly timeoutMs: number;
  readonly limits?: Partial<SandboxLimits>;
  /** Aborting kills the program like the timeout does (without `timedOut`); e.g. the run was cancelled. */
  readonly signal?: AbortSignal;
}

/** What a run produced. The same JSON shape the Fargate runner writes to its result URL or file. */
export interface SandboxResult {
  /** The program's exit status; 128 + signal number when a signal ended it (shell convention). */
  readonly exitCode: number;
  /** The signal that ended the program, e.g. `SIGKILL`, or null when it exited by itself. */
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout or stderr passed `maxOutputBytes` and was cut. */
  readonly truncated: boolean;
  /** The wall-clock timeout killed the program. */
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/** Runs untrusted code under limits. Never throws for what the code does, only when it cannot run it. */
export interface SandboxRunner {
  run(request: SandboxRequest): Promise<SandboxResult>;
}
