import * as z from 'zod';
import { EXECUTION_STATUSES, type Store } from '../ports/store.ts';
import type { StepInfo } from '../step-context.ts';

export const ExecutionFinishInputSchema = z.object({
  context: z.unknown(),
  status: z
    .enum(EXECUTION_STATUSES)
    .refine((s) => s !== 'pending' && s !== 'running' && s !== 'waiting_approval', {
      message: 'must be a terminal status',
    }),
  output: z.unknown().optional(),
  /** A Catch's `ResultPath` value: `{ Error, Cause }`. */
  error: z.object({ Error: z.string(), Cause: z.string().optional() }).nullish(),
});
export type ExecutionFinishInput = z.infer<typeof ExecutionFinishInputSchema>;

export interface ExecutionFinishOutput {
  readonly executionId: string;
  readonly status: string;
  readonly output: unknown;
  readonly costMicros: number;
  readonly savedMicros: number;
}

/**
 * Records the final status, output and error of the execution (idempotent: a retry changes nothing); its
 * terminal event follows from the end projection, after the run's last charge.
 */
export async function finishExecution(
  deps: { store: Store },
  step: StepInfo,
  input: ExecutionFinishInput,
): Promise<ExecutionFinishOutput> {
  // The terminal event is not written here: this step's own completion and cost, and the run's transitions,
  // are recorded after it. The end projection (the engine's, or the status projector on AWS) writes it last.
  const { execution: row } = await deps.store.finishExecution(
    {
      id: step.executionId,
      status: input.status,
      output: input.output ?? null,
      error: input.error ? { error: input.error.Error, cause: input.error.Cause ?? '' } : null,
    },
    { endEvent: false },
  );
  const execution = row!;
  return {
    executionId: execution.id,
    status: execution.status,
    output: execution.output,
    costMicros: execution.costMicros,
    savedMicros: execution.savedMicros,
  };
}
