import * as z from 'zod';

/**
 * The Step Functions context object (`$$`) every Lambda Task passes as `context`. On AWS it comes from
 * the service; locally the orchestrator fills the same fields per state entry.
 */
export const StepFunctionsContextSchema = z.object({
  Execution: z.object({
    Id: z.string().min(1),
    Name: z.string().min(1),
    StartTime: z.string().optional(),
    Input: z.unknown().optional(),
  }),
  State: z.object({
    Name: z.string().min(1),
    EnteredTime: z.string().min(1),
    RetryCount: z.number().int().min(0).default(0),
  }),
  StateMachine: z.object({ Id: z.string().optional(), Name: z.string().min(1) }),
  Task: z.object({ Token: z.string() }).optional(),
});
export type StepFunctionsContext = z.infer<typeof StepFunctionsContextSchema>;

/** What the stepTracking middleware knows about the running step; activities read it from the Lambda context. */
export interface StepInfo {
  readonly stepId: number;
  readonly executionId: string;
  readonly workflow: string;
  readonly stateName: string;
  readonly enteredTime: string;
  /** Map iteration discriminator from the payload's `item` ('' outside a Map). */
  readonly item: string;
  readonly attempt: number;
  /**
   * Where the activity keeps its result for this entry (in the same statement as its charge); a retry of
   * the entry is then answered from it by stepTracking.
   */
  readonly resultKey: string;
}

/**
 * Stable key of one state entry: identical across retries of the same entry, different on re-entry and
 * for each Map iteration that passes its index as `item`.
 */
export function entryKey(step: Pick<StepInfo, 'executionId' | 'stateName' | 'enteredTime' | 'item'>): string {
  const base = `${step.executionId}/${step.stateName}/${step.enteredTime}`;
  return step.item ? `${base}/${step.item}` : base;
}
