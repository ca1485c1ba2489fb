/**
 * The sandbox's request/result contract, owned here: what a run is asked to do, under which limits, and the
 * JSON shape of what it reports. The Fargate runner (src/runner.ts) writes it, the local sandbox
 * (infra/local/engine/sandbox/) returns it, and the Lambda code (functions/shared/ports/sandbox.ts, the
 * sandbox activities) reads it. This module imports nothing, so the image stays self-contained and a Lambda
 * bundle that reads the contract takes in only this file.
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

/** One run: the program, its language and its limits (the runner reads these from its environment). */
export interface SandboxCodeRequest {
  readonly language: SandboxLanguage;
  /** Program source, UTF-8. */
  readonly code: string;
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  readonly timeoutMs: number;
  readonly limits?: Partial<SandboxLimits>;
}

/** What a run produced. The same JSON shape the Fargate runner writes to its result URL or file. */
export interface SandboxResult {
  /** The program's exit status; 128 + signal number when a signal ended it (shell convention). */
  readonly exitCode: number;
  /** The signal that ended the program, e.g. `SIGKILL`, or null when it exited by itself. */
  readonly signal: string | null;
  /** Text cut at `maxOutputBytes` ends on a whole UTF-8 character ({@link utf8SafeEnd}). */
  readonly stdout: string;
  readonly stderr: string;
  /** stdout or stderr passed `maxOutputBytes` and was cut. */
  readonly truncated: boolean;
  /** The wall-clock timeout killed the program. */
  readonly timedOut: boolean;
  readonly durationMs: number;
}

/**
 * The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence: where the contract
 * cuts text (the runner's output cap, the collector's cap on what it hands a model). Invalid bytes are left
 * alone (decoding turns them into U+FFFD); only a trailing incomplete sequence goes.
 */
export function utf8SafeEnd(bytes: Uint8Array): number {
  const n = bytes.byteLength;
  // A sequence is at most 4 bytes: look back for its lead byte among the last 3.
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
