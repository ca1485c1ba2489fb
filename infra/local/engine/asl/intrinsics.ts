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
import { type PathRoots, readPath, safeJson } from './paths.ts';

/**
 * The intrinsic functions of the Amazon States Language (`States.Format(...)` and the rest), parsed by a small
 * recursive-descent parser — string literals with `\'` `\{` `\}` `\\` escapes, numbers, `true`/`false`/`null`,
 * paths (`$.x`, `$$.Execution.Id`, `$var`) and nested calls — and evaluated against the data, the context
 * object and the workflow variables. Every failure at evaluation is `States.IntrinsicFailure`.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
 */

type Arg =
  | { kind: 'string'; value: string; raw: string }
  | { kind: 'number'; value: number }
  | { kind: 'literal'; value: boolean | null }
  | { kind: 'path'; path: string }
  | Call;
interface Call {
  kind: 'call';
  name: string;
  args: Arg[];
}

/** What an intrinsic can read besides its arguments: roots for paths, and the state entry's randomness. */
export interface IntrinsicScope extends PathRoots {
  random(): number;
  uuid(): string;
  /** The error a path argument that matches nothing raises (the field's own rule). */
  readonly missError: string;
}

const FAIL = 'States.IntrinsicFailure';
const fail = (message: string): never => {
  throw new StatesError(FAIL, message);
};

/** Whether a `.$` value or a Path field is an intrinsic function call rather than a path. */
export function isIntrinsic(text: string): boolean {
  return /^\s*States\.[A-Za-z0-9]+\s*\(/.test(text);
}

/** Parses one intrinsic call; a syntax error is `States.IntrinsicFailure` naming the position. */
export function parseIntrinsic(text: string): Call {
  let pos = 0;
  const error = (what: string): never =>
    fail(`Invalid intrinsic function '${text}': ${what} at position ${pos}`);
  const ws = (): void => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos += 1;
  };
  const call = (): Call => {
    ws();
    const name = /^States\.[A-Za-z0-9]+/.exec(text.slice(pos));
    if (!name) return error('expected a States.* function');
    pos += name[0].length;
    ws();
    if (text[pos] !== '(') return error("expected '('");
    pos += 1;
    const args: Arg[] = [];
    ws();
    if (text[pos] === ')') {
      pos += 1;
      return { kind: 'call', name: name[0], args };
    }
    for (;;) {
      args.push(arg());
      ws();
      if (text[pos] === ',') {
        pos += 1;
        continue;
      }
      if (text[pos] === ')') {
        pos += 1;
        return { kind: 'call', name: name[0], args };
      }
      return error("expected ',' or ')'");
    }
  };
  const arg = (): Arg => {
    ws();
    const c = text[pos];
    if (c === "'") return stringLiteral();
    if (c === '$') return path();
    const rest = text.slice(pos);
    if (rest.startsWith('States.')) return call();
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(rest);
    if (number) {
      pos += number[0].length;
      return { kind: 'number', value: Number(number[0]) };
    }
    const literal = /^(true|false|null)\b/.exec(rest);
    if (literal) {
      pos += literal[0].length;
      return { kind: 'literal', value: literal[1] === 'null' ? null : literal[1] === 'true' };
    }
    return error('expected an argument');
  };
  const stringLiteral = (): Arg => {
    const start = ++pos;
    let value = '';
    while (pos < text.length && text[pos] !== "'") {
      if (text[pos] === '\\') {
        if (pos + 1 >= text.length) break;
        value += text[pos + 1];
        pos += 2;
      } else {
        value += text[pos];
        pos += 1;
      }
    }
    if (text[pos] !== "'") return error('unterminated string');
    const raw = text.slice(start, pos);
    pos += 1;
    return { kind: 'string', value, raw };
  };
  const path = (): Arg => {
    // A path runs to the ',' or ')' that closes the argument: brackets, parentheses and quotes inside it nest.
    const start = pos;
    let brackets = 0;
    let parens = 0;
    let quote: string | undefined;
    for (; pos < text.length; pos += 1) {
      const c = text[pos]!;
      if (quote) {
        if (c === '\\') pos += 1;
        else if (c === quote) quote = undefined;
      } else if ((c === "'" || c === '"') && brackets > 0) quote = c;
      else if (c === '[') brackets += 1;
      else if (c === ']') brackets -= 1;
      else if (c === '(') parens += 1;
      else if (c === ')') {
        if (parens === 0 && brackets === 0) break;
        parens -= 1;
      } else if (c === ',' && brackets === 0 && parens === 0) break;
    }
    return { kind: 'path', path: text.slice(start, pos).trim() };
  };
  const parsed = call();
  ws();
  if (pos !== text.length) error('unexpected text after the call');
  return parsed;
}

/** Evaluates an intrinsic call string against `data` (the `$` of its paths). */
export function evaluateIntrinsic(text: string, data: unknown, scope: IntrinsicScope): unknown {
  return evalCall(parseIntrinsic(text), data, scope);
}

function evalArg(arg: Arg, data: unknown, scope: IntrinsicScope): unknown {
  switch (arg.kind) {
    case 'string':
    case 'number':
    case 'literal':
      return arg.value;
    case 'path': {
      const { found, value } = readPath(arg.path, data, scope);
      if (!found) {
        throw new StatesError(
          scope.missError,
          `The JSONPath '${arg.path}' could not be found in the input '${safeJson(data)}'`,
        );
      }
      return value;
    }
    case 'call':
      return evalCall(arg, data, scope);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

function arity(call: Call, min: number, max = min): void {
  if (call.args.length < min || call.args.length > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    fail(`${call.name} takes ${expected} argument(s), got ${call.args.length}`);
  }
}

function asArray(name: string, v: unknown): unknown[] {
  return Array.isArray(v) ? v : fail(`${name}: expected an array, got ${safeJson(v)}`);
}
function asString(name: string, v: unknown): string {
  return typeof v === 'string' ? v : fail(`${name}: expected a string, got ${safeJson(v)}`);
}
function asInteger(name: string, v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v)
    ? v
    : fail(`${name}: expected an integer, got ${safeJson(v)}`);
}

/** JSON deep equality (key order ignored), as ArrayContains and ArrayUnique compare. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
    );
  }
  return false;
}

/** Step Functions' input limit for Base64Encode/Base64Decode and Hash. */
const MAX_STRING = 10_000;

/** `States.Format`'s template: `{}` placeholders, `\{` `\}` `\'` `\\` literal characters. */
function format(call: Call, raw: string, values: unknown[]): string {
  let out = '';
  let next = 0;
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      out += raw[i + 1];
      i += 1;
    } else if (c === '{' && raw[i + 1] === '}') {
      if (next >= values.length) fail(`${call.name}: more placeholders than arguments in '${raw}'`);
      const v = values[next++];
      if (v !== null && typeof v === 'object')
        fail(`${call.name}: argument ${next} is not a string, number, boolean or null`);
      out += v === null ? 'null' : String(v);
      i += 1;
    } else {
      out += c;
    }
  }
  if (next !== values.length)
    fail(`${call.name}: ${values.length} arguments for ${next} placeholder(s) in '${raw}'`);
  return out;
}

function evalCall(call: Call, data: unknown, scope: IntrinsicScope): unknown {
  const args = (): unknown[] => call.args.map((a) => evalArg(a, data, scope));
  switch (call.name) {
    case 'States.Format': {
      if (call.args.length < 1) fail(`${call.name} needs a template`);
      const [template, ...rest] = call.args;
      const values = rest.map((a) => evalArg(a, data, scope));
      if (template!.kind === 'string') return format(call, template!.raw, values);
      // A template read from a path is data, not a literal: its braces are placeholders, its backslashes escapes.
      return format(call, asString(call.name, evalArg(template!, data, scope)), values);
    }
    case 'States.StringToJson': {
      arity(call, 1);
      const text = asString(call.name, args()[0]);
      try {
        return JSON.parse(text);
      } catch {
        return fail(`${call.name}: '${text}' is not JSON`);
      }
    }
    case 'States.JsonToString': {
      arity(call, 1);
      return JSON.stringify(args()[0]);
    }
    case 'States.Array':
      return args();
    case 'States.ArrayPartition': {
      arity(call, 2);
      const [a, s] = args();
      const array = asArray(call.name, a);
      const size = asInteger(call.name, s);
      if (size <= 0) fail(`${call.name}: the chunk size must be positive, got ${size}`);
      return partition(array, size);
    }
    case 'States.ArrayContains': {
      arity(call, 2);
      const [a, v] = args();
      return asArray(call.name, a).some((x) => jsonEqual(x, v));
    }
    case 'States.ArrayRange': {
      arity(call, 3);
      const [start, end, step] = args().map((v) => asInteger(call.name, v)) as [number, number, number];
      if (step === 0) fail(`${call.name}: the step must not be 0`);
      const count = rangeCount(start, end, step);
      if (count > MAX_RANGE) fail(`${call.name}: ${count} items, more than the ${MAX_RANGE} allowed`);
      return range(start, step, count);
    }
    case 'States.ArrayGetItem': {
      arity(call, 2);
      const [a, i] = args();
      const array = asArray(call.name, a);
      const index = asInteger(call.name, i);
      if (index < 0 || index >= array.length)
        fail(`${call.name}: index ${index} is out of bounds (${array.length})`);
      return array[index];
    }
    case 'States.ArrayLength': {
      arity(call, 1);
      return asArray(call.name, args()[0]).length;
    }
    case 'States.ArrayUnique': {
      arity(call, 1);
      const unique: unknown[] = [];
      for (const x of asArray(call.name, args()[0])) if (!unique.some((u) => jsonEqual(u, x))) unique.push(x);
      return unique;
    }
    case 'States.Base64Encode': {
      arity(call, 1);
      const text = asString(call.name, args()[0]);
      if (text.length > MAX_STRING) fail(`${call.name}: input longer than ${MAX_STRING} characters`);
      return Buffer.from(text, 'utf8').toString('base64');
    }
    case 'States.Base64Decode': {
      arity(call, 1);
      const text = asString(call.name, args()[0]);
      if (text.length > MAX_STRING) fail(`${call.name}: input longer than ${MAX_STRING} characters`);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1)
        fail(`${call.name}: '${text}' is not base64`);
      return Buffer.from(text, 'base64').toString('utf8');
    }
    case 'States.Hash': {
      arity(call, 2);
      const [d, alg] = args();
      const algorithm = asString(call.name, alg);
      const text = asString(call.name, d);
      if (text.length > MAX_STRING) fail(`${call.name}: input longer than ${MAX_STRING} characters`);
      return hashHex(text, algorithm) ?? fail(`${call.name}: algorithm must be one of ${HASH_ALGORITHMS}`);
    }
    case 'States.JsonMerge': {
      arity(call, 3);
      const [a, b, deep] = args();
      if (!isObject(a) || !isObject(b)) return fail(`${call.name}: both inputs must be JSON objects`);
      if (deep !== false)
        fail(`${call.name}: only a shallow merge (false) is supported, as on Step Functions`);
      return { ...a, ...b };
    }
    case 'States.MathRandom': {
      arity(call, 2, 3);
      const [s, e, seed] = args();
      const start = asInteger(call.name, s);
      const end = asInteger(call.name, e);
      if (end <= start) fail(`${call.name}: the end (${end}) must be greater than the start (${start})`);
      const r = seed === undefined ? scope.random() : seededRandom(asInteger(call.name, seed));
      return start + Math.floor(r * (end - start));
    }
    case 'States.MathAdd': {
      arity(call, 2);
      const [a, b] = args().map((v) => asInteger(call.name, v)) as [number, number];
      return a + b;
    }
    case 'States.StringSplit': {
      arity(call, 2);
      const [t, d] = args();
      const text = asString(call.name, t);
      const delimiters = new Set(asString(call.name, d));
      const parts: string[] = [];
      let current = '';
      for (const ch of text) {
        if (delimiters.has(ch)) {
          if (current !== '') parts.push(current);
          current = '';
        } else current += ch;
      }
      if (current !== '') parts.push(current);
      return parts;
    }
    case 'States.UUID':
      arity(call, 0);
      return scope.uuid();
    default:
      return fail(`Unknown intrinsic function ${call.name}`);
  }
}
