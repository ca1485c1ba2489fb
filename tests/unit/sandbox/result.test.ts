import { describe, expect, it } from 'vitest';
import { SandboxFailedError, SandboxTimeoutError } from '../../../functions/shared/errors.ts';
import type { SandboxResult } from '../../../functions/shared/ports/sandbox.ts';
import { assertSandboxSucceeded, parseSandboxResult } from '../../../functions/shared/sandbox/result.ts';
import { OutputCap } from '../../../sandbox-image/src/core/output-cap.ts';
import { exitCodeOf, type ProcessOutcome } from '../../../sandbox-image/src/core/process.ts';
import { failedResult, toSandboxResult } from '../../../sandbox-image/src/core/result.ts';

const ok: SandboxResult = {
  exitCode: 0,
  signal: null,
  stdout: 'hi\n',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 12,
};

function outcome(overrides: Partial<ProcessOutcome> = {}, out = '', err = '', cap = 100): ProcessOutcome {
  const stdout = new OutputCap(cap);
  const stderr = new OutputCap(cap);
  stdout.push(Buffer.from(out));
  stderr.push(Buffer.from(err));
  return {
    exitCode: 0,
    signal: null,
    stdout,
    stderr,
    timedOut: false,
    aborted: false,
    durationMs: 5,
    ...overrides,
  };
}

describe('Function: exitCodeOf', () => {
  it('is the exit code, or 128 + the signal number when a signal ended the process', () => {
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGSEGV')).toBe(139);
  });
});

describe('Function: toSandboxResult', () => {
  it('shapes an outcome into the result contract', () => {
    expect(toSandboxResult(outcome({ exitCode: 2, durationMs: 40 }, 'out', 'err'))).toEqual({
      exitCode: 2,
      signal: null,
      stdout: 'out',
      stderr: 'err',
      truncated: false,
      timedOut: false,
      durationMs: 40,
    });
  });

  it('flags truncation when either stream was cut', () => {
    expect(toSandboxResult(outcome({}, 'x'.repeat(5), 'y'.repeat(20), 10)).truncated).toBe(true);
    expect(toSandboxResult(outcome({}, 'x'.repeat(20), '', 10)).truncated).toBe(true);
  });

  it('reports the signal the caller knows it sent when the process exit code hides it', () => {
    const result = toSandboxResult(outcome({ exitCode: 137, timedOut: true }), 'SIGKILL');
    expect(result).toMatchObject({ exitCode: 137, signal: 'SIGKILL', timedOut: true });
  });
});

describe('Function: failedResult', () => {
  it('reports a run that never reached the program as exit 127 with the reason on stderr', () => {
    expect(failedResult('code URL answered 403', 7)).toEqual({
      exitCode: 127,
      signal: null,
      stdout: '',
      stderr: 'wflo sandbox: code URL answered 403\n',
      truncated: false,
      timedOut: false,
      durationMs: 7,
    });
  });
});

describe('Function: parseSandboxResult', () => {
  it('accepts a well-formed result and returns only the contract fields', () => {
    expect(parseSandboxResult({ ...ok, extra: 'dropped' })).toEqual(ok);
  });

  it.each([
    ['not an object', 'nope'],
    ['an array', []],
    ['exit code out of range', { ...ok, exitCode: 300 }],
    ['fractional duration', { ...ok, durationMs: 1.5 }],
    ['bad signal name', { ...ok, signal: 'kill -9' }],
    ['missing stdout', { ...ok, stdout: undefined }],
    ['string boolean', { ...ok, timedOut: 'false' }],
  ])('rejects %s', (_name, value) => {
    expect(() => parseSandboxResult(value)).toThrow(SandboxFailedError);
  });

  it('rejects output beyond the size it was capped to', () => {
    expect(() => parseSandboxResult({ ...ok, stdout: 'x'.repeat(11) }, 10)).toThrow(/stdout/);
  });
});

describe('Function: assertSandboxSucceeded', () => {
  it('returns a zero-exit result unchanged', () => {
    expect(assertSandboxSucceeded(ok)).toBe(ok);
  });

  it('throws SandboxTimeoutError for a run the timeout killed', () => {
    expect(() => assertSandboxSucceeded({ ...ok, exitCode: 137, timedOut: true })).toThrow(
      SandboxTimeoutError,
    );
  });

  it('throws SandboxFailedError with the stderr tail for a non-zero exit', () => {
    expect(() =>
      assertSandboxSucceeded({ ...ok, exitCode: 1, stderr: 'Traceback\nValueError: boom\n' }),
    ).toThrow(/exited 1: Traceback\nValueError: boom/);
  });
});
