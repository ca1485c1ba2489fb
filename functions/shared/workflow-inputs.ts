import * as z from 'zod';
import { ValidationError } from './errors.ts';
import { describeIssues } from './middleware/validate-input.ts';

/**
 * Most agent-loop turns one execution may ask for. Each turn is a model call plus up to three sandbox
 * states, and the whole conversation rides in the state payload (256 KiB) and the execution history
 * (25,000 events): past a few dozen turns a run fails on those limits instead of ending cleanly, and its
 * cost is better bounded up front than discovered. Raise it here (and in the docs) if a workflow needs more.
 */
export const MAX_AGENT_ITERATIONS = 50;

/**
 * Per-workflow checks of the execution input the API runs before anything is written. Only fields whose
 * bad values the ASL cannot refuse itself are checked; other fields pass through untouched. (Full
 * JSON-Schema inputs per workflow can replace this registry.)
 */
export const WORKFLOW_INPUT_CHECKS: Readonly<Record<string, z.ZodType>> = {
  'agent-loop': z.looseObject({
    maxIterations: z
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(MAX_AGENT_ITERATIONS, `must be at most ${MAX_AGENT_ITERATIONS}`)
      .optional(),
  }),
};

/**
 * Throws {@link ValidationError} naming each bad field as `input.<field>: <message>` when the workflow's
 * input check refuses `input`; workflows without a check accept any JSON object.
 */
export function checkWorkflowInput(workflow: string, input: unknown): void {
  const check = WORKFLOW_INPUT_CHECKS[workflow];
  if (!check) return;
  const parsed = check.safeParse(input ?? {});
  if (parsed.success) return;
  const issues = describeIssues(parsed.error).map((i) =>
    i.startsWith('(root)') ? `input${i.slice(6)}` : `input.${i}`,
  );
  throw new ValidationError(`invalid input for ${workflow}: ${issues.join('; ')}`, issues);
}
