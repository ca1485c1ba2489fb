import jsonata from 'jsonata';
import { StatesError } from './errors.ts';
import {
  HASH_ALGORITHMS,
  hashHex,
  MAX_RANGE,
  partition,
  range,
  rangeCount,
  seededRandom,
} from './functions.ts';

/**
 * JSONata in Step Functions: any string of the form `{% expression %}`, anywhere in a field's JSON value, is
 * evaluated with `$states` (`input`, `result`, `errorOutput`, `context`) and the workflow variables bound, plus the
 * functions Step Functions adds ($partition, $range, $hash, $random, $uuid, $parse). `$now()` and `$millis()` read
 * the engine's clock for the state entry and `$random()` its seeded generator, so a replay sees the same values.
 * Every failure — a syntax error, an evaluation error, an undefined result — is `States.QueryEvaluationError`.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
 */

/** The `$states` reserved variable. */
export interface StatesVariable {
  input: unknown;
  result?: unknown;
  errorOutput?: unknown;
  context: Record<string, unknown>;
}

/** What a JSONata evaluation reads besides `$states`. */
export interface JsonataScope {
  readonly variables: Readonly<Record<string, unknown>>;
  readonly nowMs: number;
  random(): number;
  uuid(): string;
}

const EXPRESSION = /^\{%([\s\S]*)%\}$/;
const QUERY_ERROR = 'States.QueryEvaluationError';
const compiled = new Map<string, jsonata.Expression>();
const COMPILED_MAX = 2000;

/** Whether a value is a `{% %}` JSONata string. */
export function isJsonataString(value: unknown): value is string {
  return typeof value === 'string' && EXPRESSION.test(value);
}

function compile(expression: string, field: string): jsonata.Expression {
  let expr = compiled.get(expression);
  if (!expr) {
    try {
      expr = jsonata(expression);
    } catch (error) {
      throw new StatesError(
        QUERY_ERROR,
        `${field}: invalid JSONata expression '${expression}': ${(error as Error).message}`,
      );
    }
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(expression, expr);
  }
  return expr;
}

function bindings(states: StatesVariable, scope: JsonataScope): Record<string, unknown> {
  const queryError = (message: string): never => {
    throw new StatesError(QUERY_ERROR, message);
  };
  return {
    ...scope.variables,
    states,
    now: () => new Date(scope.nowMs).toISOString(),
    millis: () => scope.nowMs,
    uuid: () => scope.uuid(),
    random: (seed?: unknown) => {
      if (seed === undefined) return scope.random();
      return typeof seed === 'number' ? seededRandom(seed) : queryError('$random: the seed must be a number');
    },
    partition: (array: unknown, size: unknown) => {
      if (!Array.isArray(array)) return queryError('$partition: the first argument must be an array');
      if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
        return queryError('$partition: the size must be a positive integer');
      }
      return partition(array, size);
    },
    range: (start: unknown, end: unknown, step: unknown = 1) => {
      if (![start, end, step].every((n) => typeof n === 'number' && Number.isInteger(n)) || step === 0) {
        return queryError('$range: start, end and a non-zero step must be integers');
      }
      const [s, e, st] = [start, end, step] as [number, number, number];
      const count = rangeCount(s, e, st);
      if (count > MAX_RANGE) return queryError(`$range: ${count} items, more than the ${MAX_RANGE} allowed`);
      return range(s, st, count);
    },
    hash: (value: unknown, algorithm: unknown) => {
      if (typeof value !== 'string') return queryError('$hash: the value must be a string');
      return hashHex(value, algorithm) ?? queryError(`$hash: algorithm must be one of ${HASH_ALGORITHMS}`);
    },
    parse: (text: unknown) => {
      if (typeof text !== 'string') return queryError('$parse: the argument must be a string');
      try {
        return JSON.parse(text);
      } catch {
        return queryError(`$parse: '${text}' is not JSON`);
      }
    },
  };
}

/** Evaluates one JSONata expression (the text between `{%` and `%}`). */
export async function evaluateExpression(
  expression: string,
  states: StatesVariable,
  scope: JsonataScope,
  field: string,
): Promise<unknown> {
  const expr = compile(expression, field);
  let value: unknown;
  try {
    value = await expr.evaluate(undefined, bindings(states, scope));
  } catch (error) {
    if (error instanceof StatesError) throw error;
    throw new StatesError(
      QUERY_ERROR,
      `${field}: the JSONata expression '${expression.trim()}' failed: ${(error as Error).message}`,
    );
  }
  if (value === undefined) {
    throw new StatesError(
      QUERY_ERROR,
      `${field}: the JSONata expression '${expression.trim()}' returned nothing (undefined)`,
    );
  }
  return plainJson(value, () => {
    throw new StatesError(
      QUERY_ERROR,
      `${field}: the JSONata expression '${expression.trim()}' returned a function`,
    );
  });
}

/** JSONata marks sequences with extra properties and may return functions; the state's data is plain JSON. */
function plainJson(value: unknown, onFunction: () => never): unknown {
  if (typeof value === 'function') return onFunction();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : plainJson(v, onFunction)));
  if (value === null || typeof value !== 'object') return value;
  if (Object.hasOwn(value, '_jsonata_function') || Object.hasOwn(value, '_jsonata_lambda'))
    return onFunction();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plainJson(v, onFunction);
  return out;
}

/** Evaluates every `{% %}` string in a field's JSON value (object keys stay as written). */
export async function evaluateTemplate(
  template: unknown,
  states: StatesVariable,
  scope: JsonataScope,
  field: string,
): Promise<unknown> {
  if (typeof template === 'string') {
    const match = EXPRESSION.exec(template);
    return match ? evaluateExpression(match[1]!, states, scope, field) : template;
  }
  if (Array.isArray(template)) {
    const out: unknown[] = [];
    for (const item of template) out.push(await evaluateTemplate(item, states, scope, field));
    return out;
  }
  if (template === null || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template))
    out[key] = await evaluateTemplate(value, states, scope, field);
  return out;
}
