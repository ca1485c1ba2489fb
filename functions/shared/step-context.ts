import * as z from 'zod';

/**
 * The Step Functions context fields (`$$`) a Lambda Task passes as `context`, and nothing else: each Task
 * names them path by path ({@link TASK_CONTEXT_PARAMETERS}) instead of `"context.$": "$$"`, so the execution
 * input (up to 256 KiB, possibly sensitive) is not copied into every activity's payload and logs. On AWS the
 * service resolves the paths; locally the orchestrator fills `State` per state entry.
 */
export const StepFunctionsContextSchema = z.object({
  /** `Name` is the execution id in the store (the API chooses it; see functions/shared/execution-names.ts). */
  Execution: z.object({ Name: z.string().min(1) }),
  State: z.object({
    Name: z.string().min(1),
    EnteredTime: z.string().min(1),
    RetryCount: z.number().int().min(0).default(0),
  }),
  /** The state machine's name: the workflow an execution started outside the API is recorded under. */
  StateMachine: z.object({ Name: z.string().min(1) }),
});
export type StepFunctionsContext = z.infer<typeof StepFunctionsContextSchema>;

/**
 * The `context` object every Lambda Task in statemachines/*.asl.json passes (tests/infra/asl-context.test.ts
 * holds every Task to it): exactly the paths {@link StepFunctionsContextSchema} reads.
 */
export const TASK_CONTEXT_PARAMETERS = {
  Execution: { 'Name.$': '$$.Execution.Name' },
  StateMachine: { 'Name.$': '$$.StateMachine.Name' },
  State: {
    'Name.$': '$$.State.Name',
    'EnteredTime.$': '$$.State.EnteredTime',
    'RetryCount.$': '$$.State.RetryCount',
  },
} as const;

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
