import { StatesError } from './errors.ts';
import { type PathRoots, readPath, safeJson } from './paths.ts';

/**
 * Choice rules in JSONPath states: `And`/`Or`/`Not` nested to any depth, and one comparison of a `Variable` —
 * String*, Numeric*, Boolean*, Timestamp* (each with its `…Path` form), StringMatches, and the type tests
 * IsPresent/IsNull/IsNumeric/IsString/IsBoolean/IsTimestamp. A comparison of a value of the wrong type is false;
 * a `Variable` (or `…Path` operand) that matches nothing is `States.Runtime`, except under IsPresent.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
 */

type Rule = Record<string, unknown>;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp as [epoch seconds, nanoseconds], or undefined when the text is not one. */
export function parseTimestamp(text: unknown): [number, number] | undefined {
  if (typeof text !== 'string') return undefined;
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(ms);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59
  ) {
    return undefined;
  }
  let offset = 0;
  const zone = m[8]!;
  if (zone !== 'Z') {
    const [oh, om] = zone.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    offset = (zone[0] === '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  const nanos = Number((m[7] ?? '.0').slice(1, 10).padEnd(9, '0'));
  return [ms / 1000 - offset, nanos];
}

function compareTimestamps(a: [number, number], b: [number, number]): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** StringMatches: `*` matches any run of characters; `\*` and `\\` are a literal star and backslash. */
export function stringMatches(value: string, pattern: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      regex += escapeRegex(pattern[i + 1]!);
      i += 1;
    } else if (c === '*') regex += '[\\s\\S]*';
    else regex += escapeRegex(c);
  }
  return new RegExp(`^${regex}$`).test(value);
}

const escapeRegex = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

type Kind = 'String' | 'Numeric' | 'Boolean' | 'Timestamp';
const COMPARISONS =
  /^(String|Numeric|Boolean|Timestamp)(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals)(Path)?$/;

function typed(kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'String':
      return typeof value === 'string' ? value : undefined;
    case 'Numeric':
      return typeof value === 'number' ? value : undefined;
    case 'Boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'Timestamp':
      return parseTimestamp(value);
  }
}

function compare(kind: Kind, op: string, a: unknown, b: unknown): boolean {
  const x = typed(kind, a);
  const y = typed(kind, b);
  if (x === undefined || y === undefined) return false;
  const diff =
    kind === 'Timestamp'
      ? compareTimestamps(x as [number, number], y as [number, number])
      : kind === 'Boolean'
        ? x === y
          ? 0
          : Number.NaN
        : x === y
          ? 0
          : (x as string | number) < (y as string | number)
            ? -1
            : 1;
  switch (op) {
    case 'Equals':
      return diff === 0;
    case 'LessThan':
      return diff < 0;
    case 'GreaterThan':
      return diff > 0;
    case 'LessThanEquals':
      return diff <= 0;
    case 'GreaterThanEquals':
      return diff >= 0;
    default:
      return false;
  }
}

/** Evaluates one JSONPath Choice rule (top-level or nested) against the state's effective input. */
export function evaluateRule(rule: Rule, input: unknown, roots: PathRoots): boolean {
  if (Array.isArray(rule.And)) return (rule.And as Rule[]).every((r) => evaluateRule(r, input, roots));
  if (Array.isArray(rule.Or)) return (rule.Or as Rule[]).some((r) => evaluateRule(r, input, roots));
  if (rule.Not !== undefined && rule.Not !== null && typeof rule.Not === 'object') {
    return !evaluateRule(rule.Not as Rule, input, roots);
  }
  const variable = rule.Variable;
  if (typeof variable !== 'string') {
    throw new StatesError(
      'States.Runtime',
      `A Choice rule needs And, Or, Not or a Variable: ${safeJson(rule)}`,
    );
  }
  const operator = Object.keys(rule).find(
    (k) => k !== 'Variable' && k !== 'Next' && k !== 'Assign' && k !== 'Comment',
  );
  if (!operator)
    throw new StatesError('States.Runtime', `A Choice rule on '${variable}' has no comparison operator`);
  const operand = rule[operator];
  const read = readPath(variable, input, roots);
  if (operator === 'IsPresent') return read.found === (operand === true);
  if (!read.found) {
    throw new StatesError(
      'States.Runtime',
      `Invalid path '${variable}': The choice state's condition path references an invalid value.`,
    );
  }
  const value = read.value;
  const test = (is: boolean): boolean => is === (operand === true);
  switch (operator) {
    case 'IsNull':
      return test(value === null);
    case 'IsNumeric':
      return test(typeof value === 'number');
    case 'IsString':
      return test(typeof value === 'string');
    case 'IsBoolean':
      return test(typeof value === 'boolean');
    case 'IsTimestamp':
      return test(parseTimestamp(value) !== undefined);
    case 'StringMatches':
      return typeof value === 'string' && typeof operand === 'string' && stringMatches(value, operand);
  }
  const parts = COMPARISONS.exec(operator);
  if (!parts) throw new StatesError('States.Runtime', `Unknown Choice comparison operator '${operator}'`);
  const [, kind, op, isPath] = parts as unknown as [string, Kind, string, string | undefined];
  let other = operand;
  if (isPath) {
    if (typeof operand !== 'string') throw new StatesError('States.Runtime', `${operator} needs a path`);
    const target = readPath(operand, input, roots);
    if (!target.found) {
      throw new StatesError(
        'States.Runtime',
        `Invalid path '${operand}': The choice state's condition path references an invalid value.`,
      );
    }
    other = target.value;
  }
  return compare(kind, op, value, other);
}
