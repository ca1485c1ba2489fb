import type { AslDefinition, AslState } from '../workflows.ts';
import { evaluateRule, parseTimestamp } from './choice.ts';
import { StatesError } from './errors.ts';
import { evaluateExpression, evaluateTemplate, isJsonataString, type StatesVariable } from './jsonata.ts';
import { requirePath, safeJson, setReferencePath } from './paths.ts';
import { evaluateDynamic, evaluatePayload } from './payload.ts';

/**
 * The data flow of one state, as the Amazon States Language defines it, for the local engine's interpreter:
 * what a state reads (InputPath, Parameters/Arguments, ItemsPath/Items, ItemSelector), what it writes
 * (ResultSelector → ResultPath → OutputPath, or Output), the variables it assigns, the Choice it makes, how long
 * it waits, how it fails, and its timeouts and Map limits. No I/O and no clock: time and randomness come from the
 * `Scope` the engine builds per state entry, so a replay computes the same values.
 *
 * Every function is async because JSONata evaluation is (jsonata 2.x); the JSONPath paths do no waiting.
 *
 * @see https://states-language.net/spec.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
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

const RUNTIME = 'States.Runtime';
const PARAMETER_PATH = 'States.ParameterPathFailure';
const QUERY = 'States.QueryEvaluationError';
/** Step Functions' upper bound on Seconds, TimeoutSeconds and HeartbeatSeconds. */
const MAX_SECONDS = 99_999_999;
/** The largest MaxInputBytesPerBatch Step Functions accepts (256 KiB). */
const MAX_BATCH_BYTES = 256 * 1024;

const runtime = (message: string): never => {
  throw new StatesError(RUNTIME, message);
};
const has = (state: object, key: string): boolean => Object.hasOwn(state, key);
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function statesVar(input: unknown, scope: Scope, extra: Partial<StatesVariable> = {}): StatesVariable {
  return { input, context: scope.context, ...extra };
}

/** The query language of a state: its own `QueryLanguage`, else the definition's, else JSONPath. */
export async function queryLanguageOf(
  // AslDefinition declares no QueryLanguage, so a `{ QueryLanguage?: string }` alone would refuse it.
  definition: AslDefinition | { readonly QueryLanguage?: unknown },
  state: AslState,
): Promise<QueryLanguage> {
  const ql = state.QueryLanguage ?? definition.QueryLanguage ?? 'JSONPath';
  if (ql !== 'JSONPath' && ql !== 'JSONata')
    return runtime(`QueryLanguage must be JSONPath or JSONata, got ${safeJson(ql)}`);
  return ql;
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

/**
 * Task/Parallel/Pass: Parameters (JSONPath payload template: `.$` keys take paths, `$$.` context paths, `$name`
 * variables, intrinsics) or Arguments (JSONata). Returns the effective input unchanged when absent, and for a Map,
 * whose Parameters are the legacy per-item ItemSelector (see mapItemInput).
 */
export async function taskParameters(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<unknown> {
  if (state.Type === 'Map') return effective;
  if (ql === 'JSONata') {
    if (!has(state, 'Arguments')) return effective;
    return evaluateTemplate(state.Arguments, statesVar(effective, scope), scope, 'Arguments');
  }
  if (!has(state, 'Parameters')) return effective;
  return evaluatePayload(state.Parameters, effective, scope, PARAMETER_PATH);
}

/** A positive (or, with `allowZero`, non-negative) integer, else States.Runtime naming the field. */
function integerField(
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
async function fieldValue(
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

/**
 * Map: the items to iterate (ItemsPath, default `$`, or JSONata `Items`); States.Runtime when not an array.
 * With an ItemBatcher, the batches are returned as the items: as the spec orders it (ItemsPath → ItemSelector →
 * ItemBatcher), each item first goes through ItemSelector with its own `$$.Map.Item.{Index,Value}`, then the
 * selected items fill `{ BatchInput?, Items }` batches up to MaxItemsPerBatch items and MaxInputBytesPerBatch bytes
 * of JSON; mapItemInput then passes each batch through unchanged. ItemReader is the engine's to read.
 */
export async function mapItems(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<unknown[]> {
  let items: unknown;
  if (ql === 'JSONata') {
    items = has(state, 'Items')
      ? await evaluateTemplate(state.Items, statesVar(effective, scope), scope, 'Items')
      : effective;
  } else {
    const path = has(state, 'ItemsPath') ? state.ItemsPath : '$';
    if (typeof path !== 'string') return runtime(`ItemsPath must be a path, got ${safeJson(path)}`);
    items = requirePath(path, effective, scope, RUNTIME, 'ItemsPath');
  }
  if (!Array.isArray(items)) {
    return runtime(
      `The Map state's ${ql === 'JSONata' ? 'Items' : 'ItemsPath'} must select a JSON array, got ${safeJson(items)}`,
    );
  }
  const batcher = state.ItemBatcher;
  if (batcher === undefined) return items;
  if (!isObject(batcher)) return runtime('ItemBatcher must be an object');
  const selected: unknown[] = [];
  for (const [index, value] of items.entries()) {
    const itemScope: Scope = {
      ...scope,
      context: { ...scope.context, Map: { Item: { Index: index, Value: value } } },
    };
    selected.push(await selectItem(state, effective, itemScope, ql, value));
  }
  return batch(selected, batcher as AslState, effective, scope, ql);
}

async function batch(
  items: unknown[],
  batcher: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<unknown[]> {
  const maxItemsField = await fieldValue(batcher, 'MaxItemsPerBatch', effective, scope, ql);
  const maxBytesField = await fieldValue(batcher, 'MaxInputBytesPerBatch', effective, scope, ql);
  const maxItems = maxItemsField
    ? integerField(maxItemsField.value, maxItemsField.field)
    : Number.POSITIVE_INFINITY;
  const maxBytes = maxBytesField
    ? integerField(maxBytesField.value, maxBytesField.field, { max: MAX_BATCH_BYTES })
    : MAX_BATCH_BYTES;
  let batchInput: unknown;
  if (has(batcher, 'BatchInput')) {
    batchInput =
      ql === 'JSONata'
        ? await evaluateTemplate(batcher.BatchInput, statesVar(effective, scope), scope, 'BatchInput')
        : evaluatePayload(batcher.BatchInput, effective, scope, PARAMETER_PATH);
  }
  const make = (batchItems: unknown[]): Record<string, unknown> =>
    batchInput === undefined ? { Items: batchItems } : { BatchInput: batchInput, Items: batchItems };
  const size = (b: unknown): number => Buffer.byteLength(JSON.stringify(b), 'utf8');
  const batches: Record<string, unknown>[] = [];
  let current: unknown[] = [];
  items.forEach((item, index) => {
    const candidate = [...current, item];
    if (current.length > 0 && (candidate.length > maxItems || size(make(candidate)) > maxBytes)) {
      batches.push(make(current));
      current = [item];
    } else {
      current = candidate;
    }
    if (size(make(current)) > maxBytes) {
      runtime(`Item ${index} alone is larger than MaxInputBytesPerBatch (${maxBytes} bytes)`);
    }
  });
  if (current.length > 0) batches.push(make(current));
  return batches;
}

/**
 * Map: one iteration's input: ItemSelector (or the legacy Parameters) evaluated over the Map's effective input
 * with `$$.Map.Item.{Index,Value}` (the engine puts Map.Item in scope.context), else the item itself.
 */
export async function mapItemInput(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<unknown> {
  const map = scope.context.Map;
  const item = isObject(map) && isObject(map.Item) ? map.Item : undefined;
  if (!item || !has(item, 'Value'))
    return runtime('The context object has no Map.Item.Value for this iteration');
  // With an ItemBatcher the item is a batch whose items mapItems already selected.
  if (has(state, 'ItemBatcher')) return item.Value;
  return selectItem(state, effective, scope, ql, item.Value);
}

/** ItemSelector (or the legacy Parameters) for one item, or the item itself. */
async function selectItem(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
  value: unknown,
): Promise<unknown> {
  const item = { Value: value };
  if (ql === 'JSONata') {
    if (!has(state, 'ItemSelector')) return item.Value;
    return evaluateTemplate(state.ItemSelector, statesVar(effective, scope), scope, 'ItemSelector');
  }
  const selector = has(state, 'ItemSelector')
    ? state.ItemSelector
    : has(state, 'Parameters')
      ? state.Parameters
      : undefined;
  if (selector === undefined) return item.Value;
  return evaluatePayload(selector, effective, scope, PARAMETER_PATH);
}

/** JSONPath OutputPath: null → {}; absent → the value; a path that matches nothing → States.Runtime. */
function outputPath(state: AslState, value: unknown, scope: Scope): unknown {
  if (!has(state, 'OutputPath')) return value;
  const path = state.OutputPath;
  if (path === null) return {};
  if (typeof path !== 'string') return runtime(`OutputPath must be a path or null, got ${safeJson(path)}`);
  return requirePath(path, value, scope, RUNTIME, 'OutputPath');
}

/** JSONPath ResultPath over the raw input: null → the input; absent or `$` → the result; a path → merged. */
function resultPath(holder: object, rawInput: unknown, result: unknown): unknown {
  if (!has(holder, 'ResultPath')) return result;
  const path = (holder as { ResultPath?: unknown }).ResultPath;
  if (path === null) return rawInput;
  if (typeof path !== 'string')
    return runtime(`ResultPath must be a reference path or null, got ${safeJson(path)}`);
  return setReferencePath(rawInput, path, result);
}

/** JSONPath Assign: a payload template over `data`; JSONata Assign: `{% %}` strings with `$states` bound. */
async function assignOf(
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

const RESULT_STATES = new Set(['Task', 'Map', 'Parallel']);

/**
 * A state's output after success. JSONPath: Task/Map/Parallel apply ResultSelector → ResultPath (over the raw
 * input) → OutputPath to `result`; Pass uses its `Result` when present (else `result`, the engine's Parameters
 * output) → ResultPath → OutputPath; Wait/Succeed (no result) give OutputPath of the effective input. JSONata:
 * `Output` (default: the result for Task/Map/Parallel, the input otherwise).
 *
 * Assign, evaluated with the variables as they were when the state was entered: JSONPath `$` is the raw result
 * (before ResultSelector) for Task/Map/Parallel, the result for Pass, the effective input for Wait; JSONata sees
 * `$states.input` and `$states.result`.
 */
export async function stateOutput(
  state: AslState,
  rawInput: unknown,
  result: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<StateResult> {
  const producesResult = RESULT_STATES.has(state.Type);
  if (ql === 'JSONata') {
    const states = statesVar(rawInput, scope, producesResult ? { result } : {});
    const assign = await assignOf(state, undefined, states, scope, ql);
    const output = has(state, 'Output')
      ? await evaluateTemplate(state.Output, states, scope, 'Output')
      : producesResult
        ? result
        : rawInput;
    return { output, assign };
  }
  if (producesResult || state.Type === 'Pass') {
    const value = state.Type === 'Pass' && has(state, 'Result') ? state.Result : result;
    const assign = await assignOf(state, value, statesVar(rawInput, scope), scope, ql);
    const selected =
      producesResult && has(state, 'ResultSelector')
        ? evaluatePayload(state.ResultSelector, value, scope, PARAMETER_PATH)
        : value;
    return { output: outputPath(state, resultPath(state, rawInput, selected), scope), assign };
  }
  const effective = await effectiveInput(state, rawInput, scope, ql);
  const assign = await assignOf(state, effective, statesVar(rawInput, scope), scope, ql);
  return { output: outputPath(state, effective, scope), assign };
}

/**
 * The state's output when a Catcher caught the error: JSONPath ResultPath over the raw input (default `$`: the
 * error output itself), Assign with `$` = the error output; JSONata Output (default: the error output) and Assign,
 * with `$states.errorOutput` bound.
 */
export async function catchOutput(
  catcher: CatcherFields,
  rawInput: unknown,
  errorOutput: { Error: string; Cause: string },
  scope: Scope,
  ql: QueryLanguage,
): Promise<StateResult> {
  const states = statesVar(rawInput, scope, { errorOutput });
  const assign = await assignOf(catcher, errorOutput, states, scope, ql);
  if (ql === 'JSONata') {
    const output = has(catcher, 'Output')
      ? await evaluateTemplate(catcher.Output, states, scope, 'Output')
      : errorOutput;
    return { output, assign };
  }
  return { output: resultPath(catcher, rawInput, errorOutput), assign };
}

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

// Re-exported so the interpreter needs one import for the data flow and its error class.
export { StatesError } from './errors.ts';
export { evaluateExpression };
