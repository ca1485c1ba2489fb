import type { SandboxResult } from '../contract.ts';
import type { ProcessOutcome } from './process.ts';

/** Shapes what a process did into the result both sandboxes report. */
export function toSandboxResult(outcome: ProcessOutcome, signalOverride?: NodeJS.Signals): SandboxResult {
  return {
    exitCode: outcome.exitCode,
    signal: signalOverride ?? outcome.signal,
    stdout: outcome.stdout.text(),
    stderr: outcome.stderr.text(),
    truncated: outcome.stdout.truncated || outcome.stderr.truncated,
    timedOut: outcome.timedOut,
    durationMs: outcome.durationMs,
  };
}

/** A result for a run that never reached the program (bad code URL, undecodable code...). */
export function failedResult(message: string, durationMs = 0): SandboxResult {
  return {
    exitCode: 127,
    signal: null,
    stdout: '',
    stderr: `wflo sandbox: ${message}\n`,
    truncated: false,
    timedOut: false,
    durationMs,
  };
}
