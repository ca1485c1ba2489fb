import type { AslState } from '../workflows.ts';
import { evaluateRule, parseTimestamp } from './choice.ts';
import { StatesError } from './errors.ts';
import {
  assignOf,
  effectiveInput,
  fieldValue,
  has,
  integerField,
  MAX_SECONDS,
  outputPath,
  QUERY,
  type QueryLanguage,
  RUNTIME,
  runtime,
  type Scope,
  statesVar,
} from './fields.ts';
import { evaluateTemplate, isJsonataString } from './jsonata.ts';
import { safeJson } from './paths.ts';
import { evaluateDynamic } from './payload.ts';

/**
 * The control-flow fields of the data-flow API (re-exported by data-flow.ts): Choice rules, Wait deadlines, Fail
 * error and cause, Task timeouts and Map limits.
 */

/**
 * Choice: the Next of the first rule that matches, with that rule's Assign (and, in JSONata, Output); else Default
 * with the state's own Assign/Output; else States.NoChoiceMatched. JSONPath rules read the effective input and the
 * output is its OutputPath; JSONata rules are `Condition`s that must evaluate to a boolean.
 */
export async function choose(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<{ next: string; output: unknown; assign: Record<string, unknown> }> {
  const rules = Array.isArray(state.Choices) ? (state.Choices as Record<string, unknown>[]) : [];
  if (ql === 'JSONata') {
    const states = statesVar(rawInput, scope);
    const outcome = async (holder: Record<string, unknown>, next: string) => ({
      next,
      output: has(holder, 'Output')
        ? await evaluateTemplate(holder.Output, states, scope, 'Output')
        : rawInput,
      assign: await assignOf(holder, undefined, states, scope, ql),
    });
    for (const rule of rules) {
      const condition = isJsonataString(rule.Condition)
        ? await evaluateTemplate(rule.Condition, states, scope, 'Condition')
        : rule.Condition;
      if (typeof condition !== 'boolean') {
        throw new StatesError(QUERY, `Condition must evaluate to a boolean, got ${safeJson(condition)}`);
      }
      if (condition) return outcome(rule, nextOf(rule));
    }
    if (typeof state.Default === 'string') return outcome(state, state.Default);
    throw noMatch(state);
  }
  const effective = await effectiveInput(state, rawInput, scope, ql);
  const states = statesVar(rawInput, scope);
  for (const rule of rules) {
    if (evaluateRule(rule, effective, scope)) {
      return {
        next: nextOf(rule),
        output: outputPath(state, effective, scope),
        assign: await assignOf(rule, effective, states, scope, ql),
      };
    }
  }
  if (typeof state.Default === 'string') {
    return {
      next: state.Default,
      output: outputPath(state, effective, scope),
      assign: await assignOf(state, effective, states, scope, ql),
    };
  }
  throw noMatch(state);
}

function nextOf(rule: Record<string, unknown>): string {
  return typeof rule.Next === 'string' ? rule.Next : runtime(`A Choice rule has no Next: ${safeJson(rule)}`);
}

function noMatch(state: AslState): StatesError {
  return new StatesError(
    'States.NoChoiceMatched',
    `No Choice rule matched and the Choice state has no Default${typeof state.Comment === 'string' ? ` (${state.Comment})` : ''}`,
  );
}

/**
 * Wait: the absolute epoch ms to wait until, from Seconds/SecondsPath (relative to `scope.nowMs`) or
 * Timestamp/TimestampPath (RFC 3339), in JSONata their `{% %}` forms. Bad values are States.Runtime naming the field.
 */
export async function waitUntilMs(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<number> {
  const seconds = await fieldValue(state, 'Seconds', effective, scope, ql);
  if (seconds)
    return (
      scope.nowMs + integerField(seconds.value, seconds.field, { allowZero: true, max: MAX_SECONDS }) * 1000
    );
  const timestamp = await fieldValue(state, 'Timestamp', effective, scope, ql);
  if (timestamp) {
    const parsed = parseTimestamp(timestamp.value);
    if (!parsed)
      return runtime(`${timestamp.field} must be an RFC 3339 timestamp, got ${safeJson(timestamp.value)}`);
    return parsed[0] * 1000 + Math.floor(parsed[1] / 1e6);
  }
  return runtime('A Wait state needs Seconds, SecondsPath, Timestamp or TimestampPath');
}

/**
 * Fail: { error, cause } from Error/ErrorPath and Cause/CausePath (a path or an intrinsic, over the raw input), or
 * their JSONata forms; an absent one is ''. A value that is not a string is States.Runtime.
 */
export async function failInfo(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<{ error: string; cause: string }> {
  const read = async (name: 'Error' | 'Cause'): Promise<string> => {
    let value: unknown = '';
    let field: string = name;
    if (has(state, name)) {
      value =
        ql === 'JSONata'
          ? await evaluateTemplate(state[name], statesVar(rawInput, scope), scope, name)
          : state[name];
    } else if (ql === 'JSONPath' && has(state, `${name}Path`)) {
      field = `${name}Path`;
      const text = state[field];
      if (typeof text !== 'string') return runtime(`${field} must be a path or an intrinsic function`);
      value = evaluateDynamic(text, rawInput, scope, RUNTIME, field);
    }
    return typeof value === 'string' ? value : runtime(`${field} must give a string, got ${safeJson(value)}`);
  };
  return { error: await read('Error'), cause: await read('Cause') };
}

/**
 * Task: TimeoutSeconds/TimeoutSecondsPath and HeartbeatSeconds/HeartbeatSecondsPath (or their JSONata forms)
 * resolved against the effective input; undefined when absent; not a positive integer → States.Runtime.
 */
export async function taskTimeouts(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<{ timeoutSeconds?: number; heartbeatSeconds?: number }> {
  const timeout = await fieldValue(state, 'TimeoutSeconds', effective, scope, ql);
  const heartbeat = await fieldValue(state, 'HeartbeatSeconds', effective, scope, ql);
  const out: { timeoutSeconds?: number; heartbeatSeconds?: number } = {};
  if (timeout) out.timeoutSeconds = integerField(timeout.value, timeout.field, { max: MAX_SECONDS });
  if (heartbeat) out.heartbeatSeconds = integerField(heartbeat.value, heartbeat.field, { max: MAX_SECONDS });
  return out;
}

/**
 * Map: MaxConcurrency(Path) (0 = unlimited), ToleratedFailurePercentage(Path) (0–100) and
 * ToleratedFailureCount(Path), or their JSONata forms, resolved against the effective input; absent → 0.
 */
export async function mapLimits(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<{ maxConcurrency: number; toleratedFailurePercentage: number; toleratedFailureCount: number }> {
  const concurrency = await fieldValue(state, 'MaxConcurrency', effective, scope, ql);
  const percentage = await fieldValue(state, 'ToleratedFailurePercentage', effective, scope, ql);
  const count = await fieldValue(state, 'ToleratedFailureCount', effective, scope, ql);
  let toleratedFailurePercentage = 0;
  if (percentage) {
    const p = percentage.value;
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
      return runtime(`${percentage.field} must be a number from 0 to 100, got ${safeJson(p)}`);
    }
    toleratedFailurePercentage = p;
  }
  return {
    maxConcurrency: concurrency ? integerField(concurrency.value, concurrency.field, { allowZero: true }) : 0,
    toleratedFailurePercentage,
    toleratedFailureCount: count ? integerField(count.value, count.field, { allowZero: true }) : 0,
  };
}
