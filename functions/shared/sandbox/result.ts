import { SandboxFailedError, SandboxTimeoutError } from '#shared/errors';
import type { SandboxResult } from '#shared/ports/sandbox';

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * Checks a result read back from a sandbox (a result file or object). The sandboxed program could
 * have written it, so it is parsed as untrusted input: exact shape, bounded strings.
 * @throws SandboxFailedError when it is not a well-formed result.
 */
export function parseSandboxResult(value: unknown, maxOutputBytes = 8 * 1024 * 1024): SandboxResult {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SandboxFailedError('sandbox result is not a JSON object');
  }
  const v = value as Record<string, unknown>;
  if (!isInt(v.exitCode) || v.exitCode < 0 || v.exitCode > 255) problems.push('exitCode');
  if (v.signal !== null && (typeof v.signal !== 'string' || !/^SIG[A-Z0-9]+$/.test(v.signal))) {
    problems.push('signal');
  }
  for (const key of ['stdout', 'stderr'] as const) {
    const s = v[key];
    if (typeof s !== 'string' || Buffer.byteLength(s) > maxOutputBytes) problems.push(key);
  }
  if (typeof v.truncated !== 'boolean') problems.push('truncated');
  if (typeof v.timedOut !== 'boolean') problems.push('timedOut');
  if (!isInt(v.durationMs) || v.durationMs < 0) problems.push('durationMs');
  if (problems.length > 0) {
    throw new SandboxFailedError(`sandbox result is malformed: ${problems.join(', ')}`);
  }
  return {
    exitCode: v.exitCode as number,
    signal: v.signal as string | null,
    stdout: v.stdout as string,
    stderr: v.stderr as string,
    truncated: v.truncated as boolean,
    timedOut: v.timedOut as boolean,
    durationMs: v.durationMs as number,
  };
}

/**
 * Turns an unsuccessful run into the error the ASL matches: `SandboxTimeoutError` when the clock ran
 * out, `SandboxFailedError` for a non-zero exit. Returns the result unchanged when it exited 0.
 */
export function assertSandboxSucceeded(result: SandboxResult): SandboxResult {
  if (result.timedOut) {
    throw new SandboxTimeoutError(`sandboxed code was killed after ${result.durationMs} ms`);
  }
  if (result.exitCode !== 0) {
    const tail = result.stderr.slice(-500).trim();
    throw new SandboxFailedError(`sandboxed code exited ${result.exitCode}${tail ? `: ${tail}` : ''}`);
  }
  return result;
}
