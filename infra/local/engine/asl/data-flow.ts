// Interim JSONPath-only data flow (the lead's stand-in until the full module lands).
import { JSONPath } from 'jsonpath-plus';
import type { AslState } from '../workflows.ts';
import { StatesError } from './errors.ts';

export type QueryLanguage = 'JSONPath' | 'JSONata';
export interface Scope {
  readonly context: Record<string, unknown>;
  readonly variables: Readonly<Record<string, unknown>>;
  random(): number;
  uuid(): string;
  readonly nowMs: number;
}

export function queryLanguageOf(definition: { QueryLanguage?: string }, state: AslState): QueryLanguage {
  const ql = (state.QueryLanguage as string | undefined) ?? definition.QueryLanguage ?? 'JSONPath';
  return ql === 'JSONata' ? 'JSONata' : 'JSONPath';
}

function query(path: string, input: unknown, scope: Scope): unknown {
  if (path.startsWith('$$')) return query(`$${path.slice(2)}`, scope.context, { ...scope, context: {} });
  if (path === '$') return input;
  const r = JSONPath({ path, json: input as object, wrap: false });
  return r;
}

function ref(path: string, input: unknown, scope: Scope, field: string): unknown {
  const v = query(path, input, scope);
  if (v === undefined)
    throw new StatesError('States.Runtime', `Invalid path '${path}' in ${field}: no match`);
  return v;
}

export async function effectiveInput(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<unknown> {
  if (state.InputPath === null) return {};
  if (typeof state.InputPath === 'string') return ref(state.InputPath, rawInput, scope, 'InputPath');
  return rawInput;
}

function template(t: unknown, input: unknown, scope: Scope): unknown {
  if (Array.isArray(t)) return t.map((x) => template(x, input, scope));
  if (!t || typeof t !== 'object') return t;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) {
    if (k.endsWith('.$') && typeof v === 'string') {
      const key = k.slice(0, -2);
      if (v.startsWith('States.')) out[key] = intrinsic(v, input, scope);
      else {
        const r = query(v, input, scope);
        if (r === undefined)
          throw new StatesError(
            'States.Runtime',
            `The JSONPath '${v}' specified for the field '${k}' could not be found`,
          );
        out[key] = r;
      }
    } else out[k] = template(v, input, scope);
  }
  return out;
}

// --- intrinsics (subset) ---
type Tok = { t: 'str' | 'num' | 'path' | 'fn' | 'null' | 'bool'; v: unknown; args?: Tok[] };
function parseIntrinsic(src: string): Tok {
  let i = 0;
  const ws = () => {
    while (src[i] === ' ') i++;
  };
  const expr = (): Tok => {
    ws();
    if (src[i] === "'") {
      i++;
      let s = '';
      while (i < src.length && src[i] !== "'") {
        if (src[i] === '\\') i++;
        s += src[i++];
      }
      i++;
      return { t: 'str', v: s };
    }
    const m = /^[^,()]+/.exec(src.slice(i));
    const word = (m?.[0] ?? '').trim();
    i += m?.[0].length ?? 0;
    ws();
    if (src[i] === '(') {
      i++;
      const args: Tok[] = [];
      ws();
      if (src[i] === ')') i++;
      else
        for (;;) {
          args.push(expr());
          ws();
          if (src[i] === ',') i++;
          else if (src[i] === ')') {
            i++;
            break;
          } else throw new StatesError('States.IntrinsicFailure', `bad intrinsic: ${src}`);
        }
      return { t: 'fn', v: word, args };
    }
    if (word.startsWith('$')) return { t: 'path', v: word };
    if (word === 'null') return { t: 'null', v: null };
    if (word === 'true' || word === 'false') return { t: 'bool', v: word === 'true' };
    return { t: 'num', v: Number(word) };
  };
  return expr();
}
function evalTok(tok: Tok, input: unknown, scope: Scope): unknown {
  if (tok.t === 'path') return query(String(tok.v), input, scope);
  if (tok.t !== 'fn') return tok.v;
  const a = (tok.args ?? []).map((x) => evalTok(x, input, scope));
  switch (tok.v) {
    case 'States.Format': {
      let n = 1;
      return String(a[0]).replace(/\{\}/g, () => {
        const x = a[n++];
        return typeof x === 'string' ? x : JSON.stringify(x);
      });
    }
    case 'States.MathAdd':
      return Number(a[0]) + Number(a[1]);
    case 'States.StringSplit':
      return String(a[0])
        .split(new RegExp(`[${String(a[1]).replace(/[\\\]^-]/g, '\\$&')}]`))
        .filter((s) => s !== '');
    case 'States.ArrayLength':
      return (a[0] as unknown[]).length;
    case 'States.JsonToString':
      return JSON.stringify(a[0]);
    case 'States.StringToJson':
      return JSON.parse(String(a[0]));
    case 'States.Array':
      return a;
    case 'States.UUID':
      return scope.uuid();
    case 'States.ArrayGetItem':
      return (a[0] as unknown[])[Number(a[1])];
    default:
      throw new StatesError('States.IntrinsicFailure', `unsupported intrinsic ${String(tok.v)}`);
  }
}
function intrinsic(src: string, input: unknown, scope: Scope): unknown {
  return evalTok(parseIntrinsic(src), input, scope);
}

export async function taskParameters(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<unknown> {
  return state.Parameters === undefined ? effective : template(state.Parameters, effective, scope);
}

export async function mapItems(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<unknown[]> {
  const items = typeof state.ItemsPath === 'string' ? query(state.ItemsPath, effective, scope) : effective;
  if (!Array.isArray(items)) throw new StatesError('States.Runtime', 'Map ItemsPath did not select an array');
  return items;
}

export async function mapItemInput(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<unknown> {
  const sel = (state.ItemSelector ?? state.Parameters) as unknown;
  const item = (scope.context.Map as { Item: { Value: unknown } }).Item.Value;
  return sel === undefined ? item : template(sel, effective, scope);
}

function setPath(input: unknown, path: string, value: unknown): unknown {
  if (path === '$') return value;
  const parts = path.replace(/^\$\.?/, '').split('.');
  const root = structuredClone(input ?? {}) as Record<string, unknown>;
  if (typeof root !== 'object' || Array.isArray(root))
    throw new StatesError('States.ResultPathMatchFailure', `cannot apply ResultPath ${path}`);
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    if (cur[p] === undefined) cur[p] = {};
    if (typeof cur[p] !== 'object' || cur[p] === null)
      throw new StatesError('States.ResultPathMatchFailure', `cannot apply ResultPath ${path}`);
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts.at(-1)!] = value;
  return root;
}

export async function stateOutput(
  state: AslState,
  rawInput: unknown,
  result: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<{ output: unknown; assign: Record<string, unknown> }> {
  let r = state.Type === 'Pass' && 'Result' in state ? state.Result : result;
  if (state.ResultSelector !== undefined) r = template(state.ResultSelector, r, scope);
  let out: unknown;
  if (state.ResultPath === null) out = rawInput;
  else out = setPath(rawInput, (state.ResultPath as string | undefined) ?? '$', r);
  if (state.OutputPath === null) out = {};
  else if (typeof state.OutputPath === 'string') out = ref(state.OutputPath, out, scope, 'OutputPath');
  return { output: out, assign: {} };
}

export async function catchOutput(
  catcher: { ResultPath?: string | null },
  rawInput: unknown,
  errorOutput: { Error: string; Cause: string },
  _scope?: Scope,
  _ql?: QueryLanguage,
): Promise<{ output: unknown; assign: Record<string, unknown> }> {
  const out =
    catcher.ResultPath === null ? rawInput : setPath(rawInput, catcher.ResultPath ?? '$', errorOutput);
  return { output: out, assign: {} };
}

function ruleMatches(rule: Record<string, unknown>, input: unknown, scope: Scope): boolean {
  if (Array.isArray(rule.And)) return rule.And.every((r) => ruleMatches(r, input, scope));
  if (Array.isArray(rule.Or)) return rule.Or.some((r) => ruleMatches(r, input, scope));
  if (rule.Not) return !ruleMatches(rule.Not as Record<string, unknown>, input, scope);
  const v = query(String(rule.Variable), input, scope);
  for (const [op, raw] of Object.entries(rule)) {
    if (op === 'Variable' || op === 'Next') continue;
    const want = op.endsWith('Path') && op !== 'IsPresent' ? query(String(raw), input, scope) : raw;
    const o = op.replace(/Path$/, '');
    switch (o) {
      case 'IsPresent':
        return (v !== undefined) === want;
      case 'IsNull':
        return (v === null) === want;
      case 'IsString':
        return (typeof v === 'string') === want;
      case 'IsNumeric':
        return (typeof v === 'number') === want;
      case 'IsBoolean':
        return (typeof v === 'boolean') === want;
      case 'StringEquals':
      case 'NumericEquals':
      case 'BooleanEquals':
        return v === want;
      case 'StringLessThan':
      case 'NumericLessThan':
        return typeof v === typeof want && (v as number) < (want as number);
      case 'StringGreaterThan':
      case 'NumericGreaterThan':
        return typeof v === typeof want && (v as number) > (want as number);
      case 'StringLessThanEquals':
      case 'NumericLessThanEquals':
        return typeof v === typeof want && (v as number) <= (want as number);
      case 'StringGreaterThanEquals':
      case 'NumericGreaterThanEquals':
        return typeof v === typeof want && (v as number) >= (want as number);
      default:
        throw new StatesError('States.Runtime', `unsupported Choice operator ${op}`);
    }
  }
  return false;
}

export async function choose(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<{ next: string; output: unknown; assign: Record<string, unknown> }> {
  const input = await effectiveInput(state, rawInput, scope);
  for (const rule of state.Choices ?? []) {
    if (ruleMatches(rule, input, scope)) return { next: String(rule.Next), output: input, assign: {} };
  }
  if (state.Default) return { next: state.Default, output: input, assign: {} };
  throw new StatesError('States.NoChoiceMatched', 'No Choice rule matched and no Default');
}

export async function waitUntilMs(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<number> {
  if (typeof state.Seconds === 'number') return scope.nowMs + state.Seconds * 1000;
  if (typeof state.SecondsPath === 'string')
    return scope.nowMs + Number(ref(state.SecondsPath, effective, scope, 'SecondsPath')) * 1000;
  if (typeof state.Timestamp === 'string') return Date.parse(state.Timestamp);
  if (typeof state.TimestampPath === 'string')
    return Date.parse(String(ref(state.TimestampPath, effective, scope, 'TimestampPath')));
  throw new StatesError('States.Runtime', 'Wait state without Seconds or Timestamp');
}

export async function failInfo(
  state: AslState,
  rawInput: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<{ error: string; cause: string }> {
  const error =
    typeof state.ErrorPath === 'string'
      ? String(query(state.ErrorPath, rawInput, scope))
      : String(state.Error ?? 'States.Fail');
  const cause =
    typeof state.CausePath === 'string'
      ? String(
          state.CausePath.startsWith('States.')
            ? intrinsic(state.CausePath, rawInput, scope)
            : query(state.CausePath, rawInput, scope),
        )
      : String(state.Cause ?? '');
  return { error, cause };
}

export async function taskTimeouts(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<{ timeoutSeconds?: number; heartbeatSeconds?: number }> {
  const t =
    typeof state.TimeoutSecondsPath === 'string'
      ? Number(ref(state.TimeoutSecondsPath, effective, scope, 'TimeoutSecondsPath'))
      : state.TimeoutSeconds;
  const h =
    typeof state.HeartbeatSecondsPath === 'string'
      ? Number(ref(state.HeartbeatSecondsPath, effective, scope, 'HeartbeatSecondsPath'))
      : (state.HeartbeatSeconds as number | undefined);
  return {
    ...(typeof t === 'number' ? { timeoutSeconds: t } : {}),
    ...(typeof h === 'number' ? { heartbeatSeconds: h } : {}),
  };
}

export async function mapLimits(
  state: AslState,
  effective: unknown,
  scope: Scope,
  _ql?: QueryLanguage,
): Promise<{ maxConcurrency: number; toleratedFailurePercentage: number; toleratedFailureCount: number }> {
  const mc =
    typeof state.MaxConcurrencyPath === 'string'
      ? Number(ref(state.MaxConcurrencyPath, effective, scope, 'MaxConcurrencyPath'))
      : Number(state.MaxConcurrency ?? 0);
  return { maxConcurrency: mc, toleratedFailurePercentage: 0, toleratedFailureCount: 0 };
}
