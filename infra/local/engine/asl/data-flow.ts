import type { AslDefinition, AslState } from '../workflows.ts';
import { StatesError } from './errors.ts';
import {
  assignOf,
  type CatcherFields,
  effectiveInput,
  fieldValue,
  has,
  integerField,
  isObject,
  MAX_BATCH_BYTES,
  outputPath,
  PARAMETER_PATH,
  QUERY,
  type QueryLanguage,
  RUNTIME,
  resultPath,
  runtime,
  type Scope,
  type StateResult,
  statesVar,
} from './fields.ts';
import { evaluateTemplate } from './jsonata.ts';
import { requirePath, safeJson } from './paths.ts';
import { evaluatePayload } from './payload.ts';

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

// The interpreter needs one import for the whole data flow, its types and its error class.
export { choose, failInfo, mapLimits, taskTimeouts, waitUntilMs } from './control.ts';
export { StatesError } from './errors.ts';
export type { CatcherFields, QueryLanguage, Scope, StateResult } from './fields.ts';
export { effectiveInput } from './fields.ts';

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
  /** The items a Distributed Map's ItemReader read, which take the place of ItemsPath/Items. */
  read?: unknown[],
): Promise<unknown[]> {
  let items: unknown;
  if (read !== undefined) {
    items = read;
  } else if (ql === 'JSONata') {
    items = has(state, 'Items')
      ? await evaluateTemplate(state.Items, statesVar(effective, scope), scope, 'Items')
      : effective;
  } else {
    const path = has(state, 'ItemsPath') ? state.ItemsPath : '$';
    if (typeof path !== 'string') return runtime(`ItemsPath must be a path, got ${safeJson(path)}`);
    items = requirePath(path, effective, scope, RUNTIME, 'ItemsPath');
  }
  if (!Array.isArray(items)) {
    // Step Functions reports a JSONata Items of the wrong type as a query error, a JSONPath ItemsPath as a runtime one.
    if (ql === 'JSONata') {
      throw new StatesError(
        QUERY,
        `The JSONata expression specified for the field 'Items' returned an unexpected result type. Expected 'array', got ${safeJson(items)}`,
      );
    }
    return runtime(`The Map state's ItemsPath must select a JSON array, got ${safeJson(items)}`);
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
