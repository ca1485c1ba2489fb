import { isDeepStrictEqual } from 'node:util';
import { TASK_CONTEXT_PARAMETERS } from '#shared/step-context';
import { ACTIVITIES } from '../activities.ts';
import type { AslDefinition, AslState, Retrier } from './asl.ts';
import { walkStates } from './asl.ts';

/**
 * The house rules every workflow file keeps, checked where a workflow is loaded: at synth
 * (WorkflowStateMachine), when `wflo dev` loads or reloads a file, and in the tests. asl-validator says whether
 * a definition is ASL; these say whether it is a wflo workflow.
 */

/** Errors the Lambda service (not the function) raises; Step Functions recommends retrying each Lambda Task on them. */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
] as const;

/** The standard first Retry of every Lambda Task (copy it into a new Task; the lint accepts any timing). */
export const LAMBDA_SERVICE_RETRY: Readonly<Retrier> = {
  ErrorEquals: [...LAMBDA_SERVICE_ERRORS],
  IntervalSeconds: 1,
  MaxAttempts: 3,
  BackoffRate: 2,
  JitterStrategy: 'FULL',
};

/** One broken house rule. */
export interface LintViolation {
  readonly state: string;
  readonly rule: 'lambda-service-retry' | 'task-context' | 'whole-context';
  readonly message: string;
}

const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const ACTIVITY_VARIABLES: readonly string[] = ACTIVITIES.map((a) => a.variable);

/** How a Task calls Lambda: the `lambda:invoke` integration (payload under Payload), a bare function (the Parameters), or not at all. */
function lambdaCall(state: AslState, functionVariables: readonly string[]): 'invoke' | 'bare' | undefined {
  if (state.Type !== 'Task') return undefined;
  const resource = state.Resource ?? '';
  if (LAMBDA_INVOKE.test(resource)) return 'invoke';
  if (functionVariables.some((v) => resource === `\${${v}}`) || resource.startsWith('arn:aws:lambda:')) {
    return 'bare';
  }
  return undefined;
}

/** JSON paths of every `"<key>.$": "$$"` (the whole context object) under a value. */
function wholeContextRefs(value: unknown, at: string): string[] {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.endsWith('.$') && typeof v === 'string' && v.trim() === '$$'
      ? [`${at}.${k}`]
      : wholeContextRefs(v, `${at}.${k}`),
  );
}

function checkState(name: string, state: AslState, functionVariables: readonly string[]): LintViolation[] {
  if (state.Type !== 'Task') return [];
  const out: LintViolation[] = [];
  const parameters = state.Parameters ?? state.Arguments;
  for (const ref of wholeContextRefs(parameters, 'Parameters')) {
    out.push({
      state: name,
      rule: 'whole-context',
      message:
        `${ref} passes the whole context object ($$), which copies the execution input into the payload; ` +
        'pass the paths of TASK_CONTEXT_PARAMETERS (functions/shared/step-context.ts) instead',
    });
  }
  const call = lambdaCall(state, functionVariables);
  if (!call) return out;

  const retriers = state.Retry ?? [];
  const best = retriers.find((r) => LAMBDA_SERVICE_ERRORS.every((e) => r.ErrorEquals.includes(e)));
  if (!best || best.MaxAttempts === 0) {
    // The retrier closest to the standard one says what is missing from it.
    const overlap = (r: Retrier) => LAMBDA_SERVICE_ERRORS.filter((e) => r.ErrorEquals.includes(e)).length;
    const closest = [...retriers].sort((a, b) => overlap(b) - overlap(a))[0];
    const missing = closest ? LAMBDA_SERVICE_ERRORS.filter((e) => !closest.ErrorEquals.includes(e)) : [];
    out.push({
      state: name,
      rule: 'lambda-service-retry',
      message:
        `a Lambda Task needs the standard service-exception Retry (LAMBDA_SERVICE_RETRY in infra/workflows/lint.ts): ` +
        `one retrier with ErrorEquals ${JSON.stringify(LAMBDA_SERVICE_ERRORS)} and MaxAttempts > 0` +
        (best
          ? ' (it has MaxAttempts 0)'
          : closest && missing.length < LAMBDA_SERVICE_ERRORS.length
            ? ` (missing: ${missing.join(', ')})`
            : ''),
    });
  }

  const payload = call === 'invoke' ? parameters?.Payload : parameters;
  const context =
    payload && typeof payload === 'object' ? (payload as { context?: unknown }).context : undefined;
  if (!isDeepStrictEqual(context, TASK_CONTEXT_PARAMETERS)) {
    out.push({
      state: name,
      rule: 'task-context',
      message:
        `a Lambda Task passes ${call === 'invoke' ? 'Parameters.Payload' : 'Parameters'}.context exactly as ` +
        `TASK_CONTEXT_PARAMETERS (functions/shared/step-context.ts): ${JSON.stringify(TASK_CONTEXT_PARAMETERS)}` +
        (context === undefined ? ' (it has none)' : ` (got ${JSON.stringify(context)})`),
    });
  }
  return out;
}

/**
 * The house-rule violations of a raw (unsubstituted) definition, every state included (Map processors,
 * Parallel branches, states reached only from a Catch): each Lambda Task retries Lambda's service exceptions
 * ({@link LAMBDA_SERVICE_RETRY}) and passes exactly TASK_CONTEXT_PARAMETERS as `context`; no Task passes `$$` whole.
 * @param functionVariables the `${Variables}` that name Lambda functions; @default the activities'
 */
export function lintWorkflow(
  definition: AslDefinition,
  functionVariables: readonly string[] = ACTIVITY_VARIABLES,
): LintViolation[] {
  const out: LintViolation[] = [];
  walkStates(definition, (name, state) => out.push(...checkState(name, state, functionVariables)));
  return out;
}

/** Throws, naming the file and each state with what to fix, when a definition breaks a house rule. */
export function assertHouseRules(
  source: string,
  definition: AslDefinition,
  functionVariables: readonly string[] = ACTIVITY_VARIABLES,
): void {
  const violations = lintWorkflow(definition, functionVariables);
  if (violations.length === 0) return;
  throw new Error(
    `${source}: breaks the workflow house rules:\n${violations.map((v) => `  state '${v.state}': ${v.message}`).join('\n')}`,
  );
}
