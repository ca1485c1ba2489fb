import { StatesError } from './errors.ts';
import { evaluateIntrinsic, type IntrinsicScope, isIntrinsic } from './intrinsics.ts';
import { type PathRoots, requirePath } from './paths.ts';

/**
 * JSONPath payload templates (Parameters, ResultSelector, ItemSelector, BatchInput, JSONPath Assign): a JSON
 * value whose object keys ending in `.$` take the value their path, context path (`$$.`), variable (`$name`) or
 * intrinsic function selects, under the key without `.$`. Everything else is copied as written.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
 */

/** What evaluation reads besides the data: context, variables, and the state entry's randomness. */
export interface EvalScope extends PathRoots {
  random(): number;
  uuid(): string;
}

/**
 * One dynamic value: an intrinsic call or a path (`$…`, `$$…`, `$name…`). A path that matches nothing raises
 * `missError` (States.Runtime, as Step Functions reports it; see PARAMETER_PATH in fields.ts), naming `field`.
 */
export function evaluateDynamic(
  text: string,
  data: unknown,
  scope: EvalScope,
  missError: string,
  field: string,
): unknown {
  const intrinsicScope: IntrinsicScope = {
    context: scope.context,
    variables: scope.variables,
    random: () => scope.random(),
    uuid: () => scope.uuid(),
    missError,
  };
  if (isIntrinsic(text)) return evaluateIntrinsic(text.trim(), data, intrinsicScope);
  if (text.startsWith('$')) return requirePath(text, data, scope, missError, field);
  throw new StatesError(
    'States.Runtime',
    `The value of '${field}' must be a path or an intrinsic function, got '${text}'`,
  );
}

/** Evaluates a payload template against `data`. */
export function evaluatePayload(
  template: unknown,
  data: unknown,
  scope: EvalScope,
  missError = 'States.Runtime',
): unknown {
  if (Array.isArray(template)) return template.map((t) => evaluatePayload(t, data, scope, missError));
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string') {
        throw new StatesError(
          'States.Runtime',
          `The value of '${key}' must be a string holding a path or an intrinsic`,
        );
      }
      out[key.slice(0, -2)] = evaluateDynamic(value, data, scope, missError, key);
    } else {
      out[key] = evaluatePayload(value, data, scope, missError);
    }
  }
  return out;
}
