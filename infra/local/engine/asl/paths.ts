import { JSONPath } from 'jsonpath-plus';
import { StatesError } from './errors.ts';

/**
 * JSONPath for the ASL data-flow layer: reference paths (the definite subset — `.name`, `['name']`, `[0]` — that
 * ResultPath requires and that selects one node) are walked here, so a missing key and a `null` value stay
 * distinct; any other path (`..`, `*`, filters, slices, unions) goes to jsonpath-plus and yields the array of its
 * matches, as Step Functions' Jayway JsonPath does for an indefinite path.
 *
 * A path's root is one of `$` (the data given), `$$` (the context object) or `$name` (a workflow variable).
 */

/** One step of a definite path. */
type Segment = { key: string } | { index: number };

/** The data a path can reach besides the value it is applied to. */
export interface PathRoots {
  readonly context: Record<string, unknown>;
  readonly variables: Readonly<Record<string, unknown>>;
}

const VARIABLE = /^\$([A-Za-z_][A-Za-z0-9_]*)/;

/** Splits the part of a path after its root into definite segments, or undefined when the path is indefinite. */
export function parseDefinite(rest: string): Segment[] | undefined {
  const segments: Segment[] = [];
  let i = 0;
  while (i < rest.length) {
    const c = rest[i];
    if (c === '.') {
      if (rest[i + 1] === '.' || rest[i + 1] === '*') return undefined;
      if (rest[i + 1] === '[') {
        // `$.abc.['def ghi']`, a form the Step Functions guide shows: the dot is redundant.
        i += 1;
        continue;
      }
      let j = i + 1;
      while (j < rest.length && rest[j] !== '.' && rest[j] !== '[') j += 1;
      const key = rest.slice(i + 1, j);
      if (key === '' || key.endsWith('()')) return undefined;
      segments.push({ key });
      i = j;
    } else if (c === '[') {
      const close = bracketEnd(rest, i);
      if (close < 0) return undefined;
      const inner = rest.slice(i + 1, close).trim();
      const quoted = /^'((?:[^'\\]|\\.)*)'$|^"((?:[^"\\]|\\.)*)"$/.exec(inner);
      if (quoted) segments.push({ key: (quoted[1] ?? quoted[2] ?? '').replace(/\\(.)/g, '$1') });
      else if (/^-?\d+$/.test(inner)) segments.push({ index: Number(inner) });
      else return undefined;
      i = close + 1;
    } else {
      return undefined;
    }
  }
  return segments;
}

/** The index of the `]` closing the `[` at `open`, skipping quoted strings; -1 when unbalanced. */
function bracketEnd(text: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < text.length; i += 1) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i += 1;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '[') depth += 1;
    else if (c === ']') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** Walks definite segments; `found: false` when a step is missing. */
function walk(data: unknown, segments: readonly Segment[]): { found: boolean; value?: unknown } {
  let node = data;
  for (const s of segments) {
    if ('key' in s) {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, s.key)) {
        return { found: false };
      }
      node = (node as Record<string, unknown>)[s.key];
    } else {
      if (!Array.isArray(node)) return { found: false };
      const index = s.index < 0 ? node.length + s.index : s.index;
      if (index < 0 || index >= node.length) return { found: false };
      node = node[index];
    }
  }
  return { found: true, value: node };
}

/** Splits a path into the data its root names and the rest (`.a.b`, `[0]`, …). */
function rootOf(
  path: string,
  data: unknown,
  roots: PathRoots,
): { found: boolean; base?: unknown; rest: string } {
  if (path.startsWith('$$')) return { found: true, base: roots.context, rest: path.slice(2) };
  const variable = VARIABLE.exec(path);
  if (variable) {
    const name = variable[1]!;
    return Object.hasOwn(roots.variables, name)
      ? { found: true, base: roots.variables[name], rest: path.slice(variable[0].length) }
      : { found: false, rest: '' };
  }
  if (path.startsWith('$')) return { found: true, base: data, rest: path.slice(1) };
  throw new StatesError('States.Runtime', `Invalid path '${path}': a path starts with '$'`);
}

/** Whether a path string selects a single node (no `..`, `*`, filter, slice or union). */
export function isDefinitePath(path: string): boolean {
  const rest = path.startsWith('$$') ? path.slice(2) : path.replace(VARIABLE, '').replace(/^\$/, '');
  return parseDefinite(rest) !== undefined;
}

/**
 * Reads a path: a definite path gives the node (`found: false` when absent); an indefinite one gives the array of
 * its matches (always found, possibly empty). A trailing `.length()` (Jayway's function) gives the length of the
 * array the rest of the path selects.
 */
export function readPath(path: string, data: unknown, roots: PathRoots): { found: boolean; value?: unknown } {
  const lengthCall = /\.length\(\)$/.exec(path);
  if (lengthCall) {
    const inner = readPath(path.slice(0, lengthCall.index), data, roots);
    if (!inner.found) return inner;
    if (Array.isArray(inner.value)) return { found: true, value: inner.value.length };
    if (typeof inner.value === 'string') return { found: true, value: inner.value.length };
    return { found: false };
  }
  const { found, base, rest } = rootOf(path, data, roots);
  if (!found) return { found: false };
  const segments = parseDefinite(rest);
  if (segments) return walk(base, segments);
  if (base === null || typeof base !== 'object') return { found: true, value: [] };
  try {
    // jsonpath-plus' `safe` evaluator runs filter expressions without `eval`.
    const matches: unknown = JSONPath({ path: `$${rest}`, json: base, wrap: true, eval: 'safe' });
    return { found: true, value: Array.isArray(matches) ? matches : [] };
  } catch (error) {
    throw new StatesError('States.Runtime', `Invalid path '${path}': ${(error as Error).message}`);
  }
}

/** Reads a path that must match; a miss raises `errorName` with Step Functions' wording. */
export function requirePath(
  path: string,
  data: unknown,
  roots: PathRoots,
  errorName: string,
  field: string,
): unknown {
  const { found, value } = readPath(path, data, roots);
  if (!found) {
    throw new StatesError(
      errorName,
      `The JSONPath '${path}' specified for the field '${field}' could not be found in the input '${safeJson(data)}'`,
    );
  }
  return value;
}

/** JSON text for an error message, never throwing. */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch {
    return String(value);
  }
}

/**
 * ResultPath: a copy of `input` with `value` placed at the reference path, creating missing objects on the way.
 * `States.ResultPathMatchFailure` when the path walks into a value that is not an object (or an array index that is
 * not there), or when the path is not a reference path.
 */
export function setReferencePath(input: unknown, path: string, value: unknown): unknown {
  if (!path.startsWith('$') || path.startsWith('$$')) {
    throw new StatesError(
      'States.ResultPathMatchFailure',
      `Invalid ResultPath '${path}': not a reference path`,
    );
  }
  const segments = parseDefinite(path.slice(1));
  if (!segments) {
    throw new StatesError(
      'States.ResultPathMatchFailure',
      `Invalid ResultPath '${path}': not a reference path`,
    );
  }
  if (segments.length === 0) return value;
  const fail = (): never => {
    throw new StatesError(
      'States.ResultPathMatchFailure',
      `Unable to apply ResultPath '${path}' to input '${safeJson(input)}'`,
    );
  };
  if (input === null || typeof input !== 'object') fail();
  const root: unknown = structuredClone(input);
  let node = root as Record<string, unknown> | unknown[];
  segments.forEach((s, n) => {
    const last = n === segments.length - 1;
    if ('key' in s) {
      if (Array.isArray(node)) fail();
      const obj = node as Record<string, unknown>;
      if (last) {
        obj[s.key] = value;
        return;
      }
      if (!Object.hasOwn(obj, s.key)) obj[s.key] = {};
      const next = obj[s.key];
      if (next === null || typeof next !== 'object') fail();
      node = next as Record<string, unknown>;
    } else {
      if (!Array.isArray(node)) fail();
      const arr = node as unknown[];
      const index = s.index < 0 ? arr.length + s.index : s.index;
      if (index < 0 || index >= arr.length) fail();
      if (last) {
        arr[index] = value;
        return;
      }
      const next = arr[index];
      if (next === null || typeof next !== 'object') fail();
      node = next as Record<string, unknown>;
    }
  });
  return root;
}
