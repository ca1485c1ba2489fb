import { createHash } from 'node:crypto';
import * as z from 'zod';
import { BudgetExceededError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import { type ArtifactStore, executionPrefix } from '../ports/artifacts.ts';
import { SANDBOX_LANGUAGES, type SandboxLanguage } from '../ports/sandbox.ts';
import type { Store } from '../ports/store.ts';
import { fargateMicros } from '../pricing/aws.ts';
import type { StepInfo } from '../step-context.ts';
import { entryKey } from '../step-context.ts';

/** Largest program accepted, in bytes of UTF-8 (a state's whole input is capped at 256 KiB anyway). */
export const MAX_CODE_BYTES = 256 * 1024;
/** Wall-clock limits a run may ask for, in seconds (the runner's own ceiling is 15 minutes). */
export const MIN_TIMEOUT_SECONDS = 1;
export const MAX_TIMEOUT_SECONDS = 900;
export const DEFAULT_TIMEOUT_SECONDS = 30;
/**
 * What a task needs besides the program's own time: Fargate provisioning, image pull, runner start,
 * result upload. The Run state's timeout and the URLs' validity are the program's timeout plus this.
 */
export const TASK_OVERHEAD_SECONDS = 300;
/** The result object's content type; the runner PUTs exactly this (it is part of the S3 signature). */
export const RESULT_CONTENT_TYPE = 'application/json';

const CODE_FILE: Record<SandboxLanguage, { name: string; type: string }> = {
  python: { name: 'code.py', type: 'text/x-python; charset=utf-8' },
  javascript: { name: 'code.js', type: 'text/javascript; charset=utf-8' },
};

export const SandboxPrepareInputSchema = z.object({
  context: z.unknown(),
  language: z.enum(SANDBOX_LANGUAGES),
  code: z
    .string()
    .min(1)
    .refine((code) => Buffer.byteLength(code, 'utf8') <= MAX_CODE_BYTES, {
      message: `must be at most ${MAX_CODE_BYTES} bytes of UTF-8`,
    }),
  timeoutSeconds: z
    .number()
    .int()
    .min(MIN_TIMEOUT_SECONDS)
    .max(MAX_TIMEOUT_SECONDS)
    .default(DEFAULT_TIMEOUT_SECONDS),
});
export type SandboxPrepareInput = z.infer<typeof SandboxPrepareInputSchema>;

/** One environment variable of an ECS container override, as `ContainerOverrides[].Environment` takes it. */
export interface EnvironmentOverride {
  readonly Name: string;
  readonly Value: string;
}

export interface SandboxPrepareOutput {
  readonly language: SandboxLanguage;
  readonly timeoutSeconds: number;
  /** For the Run state's `TimeoutSecondsPath`: the program's timeout plus {@link TASK_OVERHEAD_SECONDS}. */
  readonly taskTimeoutSeconds: number;
  readonly codeKey: string;
  /** Where the runner delivers its result; sandbox-collect reads it from here. */
  readonly resultKey: string;
  /** Presigned GET of the program (a `file://` URL locally). */
  readonly codeUrl: string;
  /** Presigned PUT of the result (a `file://` URL locally). */
  readonly resultUrl: string;
  /** The runner's settings for the sandbox container (`Overrides.ContainerOverrides[0].Environment`). */
  readonly environment: EnvironmentOverride[];
}

export interface SandboxPrepareDeps {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  /** The sandbox task size (CPU units, MiB): with the task's timeout, the worst case held before it runs. */
  readonly taskSize: { readonly cpu: number; readonly memoryMiB: number };
}

/**
 * The key of a sandbox run's budget hold: taken by sandbox-prepare, settled by sandbox-collect, which both
 * know the run by its result object's key (no extra field travels through the workflow).
 */
export function sandboxHoldKey(resultKey: string): string {
  return `sandbox:${resultKey}`;
}

/**
 * The folder of one state entry's run: stable across retries of the entry (a retry overwrites the same
 * objects), new for every re-entry and Map iteration.
 */
export function sandboxRunPrefix(step: StepInfo): string {
  const run = createHash('sha256').update(entryKey(step)).digest('hex').slice(0, 32);
  return `${executionPrefix(step.executionId)}sandbox/${run}/`;
}

/**
 * Holds the task's worst case against the run's budget (`BudgetExceededError` when it does not fit, before
 * anything runs), stores the program and makes everything the sandbox task needs: a presigned GET of the code, a
 * presigned PUT for the result (both valid for the program's timeout plus the task overhead) and the
 * runner's environment, then emits `sandbox.started`. The task itself gets no credentials.
 *
 * A retried invocation of the same entry stores the same objects again and emits `sandbox.started`
 * again (events are at-least-once; consumers dedupe on the event id and the payload's keys).
 */
export async function prepareSandbox(
  deps: SandboxPrepareDeps,
  step: StepInfo,
  input: SandboxPrepareInput,
): Promise<SandboxPrepareOutput> {
  const prefix = sandboxRunPrefix(step);
  const file = CODE_FILE[input.language];
  const codeKey = `${prefix}${file.name}`;
  const resultKey = `${prefix}result.json`;
  const taskTimeoutSeconds = input.timeoutSeconds + TASK_OVERHEAD_SECONDS;
  const validity = taskTimeoutSeconds + 60;

  // The task's worst case (its size for the whole task timeout) is held before anything starts it.
  const { cpu, memoryMiB } = deps.taskSize;
  const worstCase = fargateMicros(cpu / 1024, memoryMiB / 1024, taskTimeoutSeconds * 1000);
  const held = await deps.store.reserveBudget({
    key: sandboxHoldKey(resultKey),
    executionId: step.executionId,
    amountMicros: worstCase,
    kind: 'sandbox',
    stepId: step.stepId,
    stateName: step.stateName,
    provider: 'fargate',
    model: `${cpu / 1024}vCPU-${memoryMiB / 1024}GB`,
  });
  if (!held.ok) {
    throw new BudgetExceededError(
      `a sandbox run of up to ${taskTimeoutSeconds} s may cost ${worstCase} µ$; execution ${step.executionId} has spent ${held.costMicros} and holds ${held.reservedMicros} of its ${held.budgetMicros} µ$ budget${held.overrunMicros > 0 ? `, and a charge overran its reservation by ${held.overrunMicros} µ$` : ''}`,
    );
  }

  await deps.artifacts.put(codeKey, input.code, file.type);
  const [codeUrl, resultUrl] = await Promise.all([
    deps.artifacts.presignGet(codeKey, validity),
    deps.artifacts.presignPut(resultKey, RESULT_CONTENT_TYPE, validity),
  ]);
  const environment: EnvironmentOverride[] = [
    { Name: 'WFLO_LANGUAGE', Value: input.language },
    { Name: 'WFLO_CODE_URL', Value: codeUrl },
    { Name: 'WFLO_RESULT_URL', Value: resultUrl },
    { Name: 'WFLO_TIMEOUT_MS', Value: String(input.timeoutSeconds * 1000) },
  ];
  await deps.store.appendEvents(step.executionId, [
    {
      type: EVENTS.sandboxStarted,
      payload: {
        executionId: step.executionId,
        stateName: step.stateName,
        language: input.language,
        codeBytes: Buffer.byteLength(input.code, 'utf8'),
        timeoutSeconds: input.timeoutSeconds,
        codeKey,
        resultKey,
      },
    },
  ]);
  return {
    language: input.language,
    timeoutSeconds: input.timeoutSeconds,
    taskTimeoutSeconds,
    codeKey,
    resultKey,
    codeUrl,
    resultUrl,
    environment,
  };
}
