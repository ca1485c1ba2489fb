import type { AslState } from '../workflows.ts';
import { StatesError } from './errors.ts';
import { evaluateTemplate, isJsonataString, type StatesVariable } from './jsonata.ts';
import { requirePath, safeJson, setReferencePath } from './paths.ts';
import { evaluatePayload } from './payload.ts';

/**
 * The types of the data-flow API (data-flow.ts) and the field rules its functions share: InputPath, OutputPath,
 * ResultPath, Assign, and the fields that have a literal, a `…Path` and a JSONata form.
 */

export type QueryLanguage = 'JSONPath' | 'JSONata';

/** What the engine gives a state entry besides its input. */
export interface Scope {
  /** The `$$` context object as the engine built it for this state entry (Execution, StateMachine, State, Map.Item, Task.Token…). */
  readonly context: Record<string, unknown>;
  /** Workflow variables visible in this state (Assign); the engine owns storage, this layer computes. */
  readonly variables: Readonly<Record<string, unknown>>;
  /** Deterministic per state entry (the engine seeds them so a replay gets the same values). [0,1) */
  random(): number;
  /** States.UUID / $uuid() */
  uuid(): string;
  /** Epoch ms "now" for JSONata $now()/$millis(). */
  readonly nowMs: number;
}

/** A Catcher as this layer reads it (asl.ts's Catcher plus the JSONata and Assign fields). */
export interface CatcherFields {
  ResultPath?: string | null;
  Output?: unknown;
  Assign?: unknown;
}

/** The output of a state, and the variables it assigns (empty when it has no Assign). */
export interface StateResult {
  output: unknown;
  assign: Record<string, unknown>;
}

export const RUNTIME = 'States.Runtime';
/**
 * A payload template's path (Parameters, ResultSelector, ItemSelector, an intrinsic's argument) that matches
 * nothing: Step Functions ends the execution with States.Runtime, not the States.ParameterPathFailure the
 * spec names (recorded against AWS in LocalStack's tests/aws/services/stepfunctions/v2/scenarios snapshots:
 * "The JSONPath '$.x' specified for the field 'value.$' could not be found in the input").
 */
export const PARAMETER_PATH = 'States.Runtime';
export const QUERY = 'States.QueryEvaluationError';
/** Step Functions' upper bound on Seconds, TimeoutSeconds and HeartbeatSeconds. */
export const MAX_SECONDS = 99_999_999;
/** The largest MaxInputBytesPerBatch Step Functions accepts (256 KiB). */
export const MAX_BATCH_BYTES = 256 * 1024;

export const runtime = (message: string): never => {
  throw new StatesError(RUNTIME, message);
};
export const has = (state: object, key: string): boolean => Object.hasOwn(state, key);
export const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

export function statesVar(input: unknown, scope: Scope, extra: Partial<StatesVariable> = {}): StatesVariable {
  return { input, context: scope.context, ...extra };
}

/** JSONPath: InputPath applied to the raw state input (null InputPath → {}). JSONata: the raw input ($states.input). */
export async function effectiveInput(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<unknown> {
  if (ql === 'JSONata' || !has(state, 'InputPath')) return rawInput;
  const path = state.InputPath;
  if (path === null) return {};
  if (typeof path !== 'string') return runtime(`InputPath must be a path or null, got ${safeJson(path)}`);
  return requirePath(path, rawInput, scope, RUNTIME, 'InputPath');
}

/** A positive (or, with `allowZero`, non-negative) integer, else States.Runtime naming the field. */
export function integerField(
  value: unknown,
  field: string,
  { allowZero = false, max = Number.MAX_SAFE_INTEGER } = {},
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > max) {
    return runtime(
      `${field} must be a ${allowZero ? 'non-negative' : 'positive'} integer up to ${max}, got ${safeJson(value)}`,
    );
  }
  return value;
}

/**
 * The value of a field that has a literal form (`Name`, a `{% %}` string in JSONata) and a JSONPath form
 * (`NamePath`, read from `data`); undefined when neither is present.
 */
export async function fieldValue(
  state: AslState,
  name: string,
  data: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<{ value: unknown; field: string } | undefined> {
  if (has(state, name)) {
    const literal = state[name];
    if (ql === 'JSONata' && isJsonataString(literal)) {
      return { value: await evaluateTemplate(literal, statesVar(data, scope), scope, name), field: name };
    }
    return { value: literal, field: name };
  }
  const pathField = `${name}Path`;
  if (ql === 'JSONPath' && has(state, pathField)) {
    const path = state[pathField];
    if (typeof path !== 'string') return runtime(`${pathField} must be a path, got ${safeJson(path)}`);
    return { value: requirePath(path, data, scope, RUNTIME, pathField), field: pathField };
  }
  return undefined;
}

/** JSONPath OutputPath: null → {}; absent → the value; a path that matches nothing → States.Runtime. */
export function outputPath(state: AslState, value: unknown, scope: Scope): unknown {
  if (!has(state, 'OutputPath')) return value;
  const path = state.OutputPath;
  if (path === null) return {};
  if (typeof path !== 'string') return runtime(`OutputPath must be a path or null, got ${safeJson(path)}`);
  return requirePath(path, value, scope, RUNTIME, 'OutputPath');
}

/** JSONPath ResultPath over the raw input: null → the input; absent or `$` → the result; a path → merged. */
export function resultPath(holder: object, rawInput: unknown, result: unknown): unknown {
  if (!has(holder, 'ResultPath')) return result;
  const path = (holder as { ResultPath?: unknown }).ResultPath;
  if (path === null) return rawInput;
  if (typeof path !== 'string')
    return runtime(`ResultPath must be a reference path or null, got ${safeJson(path)}`);
  return setReferencePath(rawInput, path, result);
}

/** JSONPath Assign: a payload template over `data`; JSONata Assign: `{% %}` strings with `$states` bound. */
export async function assignOf(
  holder: object,
  data: unknown,
  states: StatesVariable,
  scope: Scope,
  ql: QueryLanguage,
): Promise<Record<string, unknown>> {
  if (!has(holder, 'Assign')) return {};
  const assign = (holder as { Assign?: unknown }).Assign;
  if (ql === 'JSONata') {
    const value = await evaluateTemplate(assign, states, scope, 'Assign');
    return isObject(value) ? value : runtime(`Assign must be an object, got ${safeJson(value)}`);
  }
  if (!isObject(assign)) return runtime(`Assign must be an object, got ${safeJson(assign)}`);
  return evaluatePayload(assign, data, scope, RUNTIME) as Record<string, unknown>;
}
