import type { Context } from 'aws-lambda';
import { BudgetExceededError } from '../errors.ts';
import type { Micros } from '../money.ts';
import type { Store } from '../ports/store.ts';
import { lambdaComputeMicros, transitionsMicros } from '../pricing/aws.ts';
import type { StepInfo } from '../step-context.ts';

/**
 * Activities that record spend which already happened (the run's end, a finished sandbox task): they take
 * their holds when the budget has room but run even when it has none, so a run over budget still records
 * its end and its sandbox bill. Their compute and transitions are then the named residue in the README.
 */
export const RECORDING_ACTIVITIES: ReadonlySet<string> = new Set(['execution-finish', 'sandbox-collect']);

/** The function's memory, which Lambda bills by (the local runtime reports the activity's configured size). */
export function memoryOf(context: Pick<Context, 'memoryLimitInMB'>): number {
  const mb = Number(context.memoryLimitInMB);
  return Number.isFinite(mb) && mb > 0 ? mb : 128;
}

/** The transition bound a Task's Payload carries (infra/workflows/transition-bounds.ts); 1 (its own entry) without one. */
export function transitionsAheadOf(event: unknown): number {
  const raw = (event as { transitionsAhead?: unknown } | null)?.transitionsAhead;
  return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 1 ? raw : 1;
}

/** The holds one step attempt took: the compute key is settled when the attempt closes. */
export interface StepHolds {
  readonly computeKey: string | undefined;
  readonly computeMicros: Micros;
  readonly transitionMicros: Micros;
}

/**
 * Holds a step's worst case against its run's budget before the activity runs: its state transitions (the
 * bound its Task carries, held once per state entry and settled by the end-of-run transition charge) and
 * its compute (memory × the attempt's remaining time, settled to memory × actual duration when the attempt
 * closes), both or neither, in one statement. Throws `BudgetExceededError` when they do not fit (also
 * after an overrun), unless the activity is one of {@link RECORDING_ACTIVITIES}; the activity then never
 * starts, and its model call, sandbox task and compute are never spent.
 */
export async function holdStep(
  store: Pick<Store, 'reserveBudgets'>,
  activity: string,
  step: Pick<StepInfo, 'executionId' | 'stateName' | 'stepId' | 'resultKey' | 'attempt'>,
  context: Pick<Context, 'memoryLimitInMB' | 'getRemainingTimeInMillis'>,
  transitionsAhead: number,
): Promise<StepHolds> {
  const where = { stepId: step.stepId, stateName: step.stateName };
  const transitionMicros = transitionsMicros(transitionsAhead);
  const computeMicros = lambdaComputeMicros(
    memoryOf(context),
    Math.max(1, context.getRemainingTimeInMillis()),
  );
  const computeKey = `${step.resultKey}/${step.attempt}/lambda`;
  const held = await store.reserveBudgets(step.executionId, [
    // Per state entry, not per attempt: a retry enters no state again (its key is already held).
    { ...where, key: `${step.resultKey}/transitions`, kind: 'transition', amountMicros: transitionMicros },
    { ...where, key: computeKey, kind: 'lambda', amountMicros: computeMicros },
  ]);
  if (held.ok) return { computeKey, computeMicros, transitionMicros };
  if (RECORDING_ACTIVITIES.has(activity)) return { computeKey: undefined, computeMicros, transitionMicros };
  const why =
    held.overrunMicros > 0
      ? `a charge overran its reservation by ${held.overrunMicros} µ$ (budget.overrun), so the run spends nothing more`
      : `it has spent ${held.costMicros} and holds ${held.reservedMicros} of its ${held.budgetMicros} µ$ budget`;
  throw new BudgetExceededError(
    `step ${step.stateName} may cost up to ${computeMicros} µ$ of compute and ${transitionMicros} µ$ of transitions before it spends anything else; execution ${step.executionId} cannot hold them: ${why}`,
  );
}
