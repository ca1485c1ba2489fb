import * as z from 'zod';
import { utf8SafeEnd } from '../../../sandbox-image/src/contract.ts';
import { type CountMetrics, METRICS } from '../contracts/metrics.ts';
import { ArtifactTooLargeError, SandboxFailedError, ValidationError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import { type Micros, microsToUsd } from '../money.ts';
import { type ArtifactStore, executionPrefix } from '../ports/artifacts.ts';
import type { SandboxResult } from '../ports/sandbox.ts';
import type { Store } from '../ports/store.ts';
import { fargateMicros } from '../pricing/aws.ts';
import { assertSandboxSucceeded, parseSandboxResult } from '../sandbox/result.ts';
import type { StepInfo } from '../step-context.ts';
import { sandboxHoldKey } from './sandbox-prepare.ts';

/** Largest result object read: two 8 MiB streams (the runner's ceiling) plus room for the JSON around them. */
export const MAX_RESULT_BYTES = 17 * 1024 * 1024;
/** stdout and stderr kept in the step output, each (Step Functions carries at most 256 KiB per state). */
export const OUTPUT_CAP_BYTES = 32 * 1024;
/** stdout and stderr kept in the `sandbox.finished` event and in the summary for a model, each. */
export const EVENT_OUTPUT_CAP_BYTES = 4 * 1024;
export const SUMMARY_OUTPUT_CAP_BYTES = 8 * 1024;

/** An ECS timestamp as Step Functions passes it on: epoch milliseconds (or seconds), or an ISO string. */
const Timestamp = z
  .union([z.number(), z.string()])
  .transform((v) => (typeof v === 'string' ? Date.parse(v) : v < 1e11 ? v * 1000 : v))
  .pipe(z.number().finite().nonnegative());

export const SandboxCollectInputSchema = z.object({
  context: z.unknown(),
  /** sandbox-prepare's `resultKey`. */
  resultKey: z.string().min(1).max(1024),
  /**
   * The stopped ECS task as the Run state's ResultSelector keeps it (`Cpu`, `Memory`, `CreatedAt`,
   * `StoppedAt` of the `ecs:runTask.sync` output): its size and lifetime are what Fargate bills.
   */
  task: z
    .object({
      taskArn: z.string().optional(),
      cpu: z.coerce.number().int().positive().optional(),
      memory: z.coerce.number().int().positive().optional(),
      createdAt: Timestamp.optional(),
      stoppedAt: Timestamp.optional(),
    })
    .optional(),
  /**
   * Throw `SandboxFailedError` on a non-zero exit and `SandboxTimeoutError` on a timeout (default), or
   * report them in the output instead (the agent loop hands them back to the model).
   */
  raiseOnFailure: z.boolean().default(true),
});
export type SandboxCollectInput = z.infer<typeof SandboxCollectInputSchema>;

export interface SandboxCollectOutput {
  readonly exitCode: number;
  readonly signal: string | null;
  readonly timedOut: boolean;
  /** The runner cut stdout or stderr at its limit, or this step cut them at {@link OUTPUT_CAP_BYTES}. */
  readonly truncated: boolean;
  /** The program's own run time. */
  readonly durationMs: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Exited 0 before its timeout. */
  readonly succeeded: boolean;
  /** The task time charged (Fargate bills at least a minute). */
  readonly billedMs: number;
  readonly costMicros: Micros;
  readonly costUsd: number;
  /** What happened, as text to hand to a model as the next turn. */
  readonly summary: string;
}

export interface SandboxCollectDeps {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  /** The sandbox task size charged when the task output does not carry one (CPU units, MiB). */
  readonly taskSize: { readonly cpu: number; readonly memoryMiB: number };
  readonly metrics?: CountMetrics;
}

/** The first `maxBytes` of a string's UTF-8, never ending inside a character. */
export function capUtf8(text: string, maxBytes: number): { text: string; cut: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= maxBytes) return { text, cut: false };
  const head = bytes.subarray(0, maxBytes);
  return { text: head.subarray(0, utf8SafeEnd(head)).toString('utf8'), cut: true };
}

function fence(text: string): string {
  // A fence longer than any backtick run inside, so the output cannot close it early.
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${f}`;
}

/** The text a model gets back after its program ran. */
export function summarize(result: SandboxResult): string {
  const status = result.timedOut
    ? `was killed at its time limit after ${result.durationMs} ms`
    : result.signal
      ? `was ended by ${result.signal} (exit code ${result.exitCode}) after ${result.durationMs} ms`
      : `exited with code ${result.exitCode} after ${result.durationMs} ms`;
  const part = (name: string, text: string) => {
    if (text === '') return `${name}: (empty)`;
    const { text: kept, cut } = capUtf8(text, SUMMARY_OUTPUT_CAP_BYTES);
    return `${name}${cut ? ` (first ${SUMMARY_OUTPUT_CAP_BYTES} bytes)` : ''}:\n${fence(kept)}`;
  };
  return [
    `The program ${status}.${result.truncated ? ' Its output was longer than the sandbox keeps and was cut.' : ''}`,
    part('stdout', result.stdout),
    part('stderr', result.stderr),
  ].join('\n');
}

/** How long the task ran, from its own timestamps when it has them (creation to stop: an upper bound). */
function billedMsOf(task: SandboxCollectInput['task'], result: SandboxResult | undefined): number {
  if (task?.createdAt !== undefined && task.stoppedAt !== undefined && task.stoppedAt >= task.createdAt) {
    return Math.round(task.stoppedAt - task.createdAt);
  }
  return result?.durationMs ?? 0;
}

/**
 * Reads what one sandbox run produced and records it:
 * 1. the output is kept under `step.resultKey` with the charge, so stepTracking answers a retried
 *    invocation of the same entry with it; a repeat that gets here anyway charges nothing twice;
 * 2. the result object is read (at most {@link MAX_RESULT_BYTES}) and checked as untrusted input;
 * 3. the task's compute (Fargate vCPU and memory for its lifetime, at least a minute) is charged to the
 *    ledger as kind `sandbox`, once per entry, with a `sandbox.finished` event carrying exit code,
 *    duration and the capped output — also when the run failed, since the task was paid for;
 * 4. a missing or malformed result throws `SandboxFailedError`; with `raiseOnFailure` (the default) a
 *    timeout throws `SandboxTimeoutError` and a non-zero exit `SandboxFailedError`, for the ASL to Catch.
 */
export async function collectSandbox(
  deps: SandboxCollectDeps,
  step: StepInfo,
  input: SandboxCollectInput,
): Promise<SandboxCollectOutput> {
  // Only this execution's objects: a workflow cannot read another run's results through this step.
  const prefix = executionPrefix(step.executionId);
  if (!input.resultKey.startsWith(prefix)) {
    throw new ValidationError(`resultKey must be under ${prefix}`, [`resultKey: must start with ${prefix}`]);
  }
  const keptKey = step.resultKey;

  let result: SandboxResult | undefined;
  let problem: string | undefined;
  try {
    const bytes = await deps.artifacts.get(input.resultKey, MAX_RESULT_BYTES);
    if (bytes === undefined) problem = 'no result was delivered';
    else result = parseSandboxResult(JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown);
  } catch (error) {
    if (error instanceof SyntaxError) problem = 'the result is not JSON';
    else if (error instanceof SandboxFailedError || error instanceof ArtifactTooLargeError) {
      problem = error.message;
    } else throw error;
  }

  const cpu = input.task?.cpu ?? deps.taskSize.cpu;
  const memory = input.task?.memory ?? deps.taskSize.memoryMiB;
  const billedMs = billedMsOf(input.task, result);
  const costMicros = fargateMicros(cpu / 1024, memory / 1024, billedMs);
  const succeeded = result !== undefined && !result.timedOut && result.exitCode === 0;
  const stdout = capUtf8(result?.stdout ?? '', OUTPUT_CAP_BYTES);
  const stderr = capUtf8(result?.stderr ?? '', OUTPUT_CAP_BYTES);
  const output: SandboxCollectOutput | undefined = result && {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    truncated: result.truncated || stdout.cut || stderr.cut,
    durationMs: result.durationMs,
    stdout: stdout.text,
    stderr: stderr.text,
    succeeded,
    billedMs,
    costMicros,
    costUsd: microsToUsd(costMicros),
    summary: summarize(result),
  };
  const keep = output !== undefined && (succeeded || !input.raiseOnFailure);

  await deps.store.recordCost(
    {
      executionId: step.executionId,
      stepId: step.stepId,
      stateName: step.stateName,
      kind: 'sandbox',
      provider: 'fargate',
      model: `${cpu / 1024}vCPU-${memory / 1024}GB`,
      usdMicros: costMicros,
      idempotencyKey: `${keptKey}/cost`,
    },
    [
      {
        type: EVENTS.sandboxFinished,
        payload: {
          executionId: step.executionId,
          stateName: step.stateName,
          resultKey: input.resultKey,
          ...(input.task?.taskArn ? { taskArn: input.task.taskArn } : {}),
          ...(result
            ? {
                exitCode: result.exitCode,
                signal: result.signal,
                timedOut: result.timedOut,
                truncated: result.truncated,
                durationMs: result.durationMs,
                stdout: capUtf8(result.stdout, EVENT_OUTPUT_CAP_BYTES).text,
                stderr: capUtf8(result.stderr, EVENT_OUTPUT_CAP_BYTES).text,
              }
            : { error: problem }),
          billedMs,
          costMicros,
        },
      },
    ],
    // Settles the hold sandbox-prepare took: above it (a task that outlived its timeout) is an overrun.
    {
      reservationKey: sandboxHoldKey(input.resultKey),
      ...(keep ? { result: { key: keptKey, value: output } } : {}),
    },
  );
  deps.metrics?.addMetric(METRICS.SandboxRuns, 'Count', 1);
  deps.metrics?.addMetric(METRICS.CostMicros, 'Count', costMicros);
  if (!succeeded) deps.metrics?.addMetric(METRICS.SandboxFailures, 'Count', 1);

  if (!result || !output) throw new SandboxFailedError(`sandbox result unusable: ${problem}`);
  if (input.raiseOnFailure) assertSandboxSucceeded(result);
  return output;
}
