import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { Store } from '#shared/ports/store';
import type { ActivityDefinition } from '../../infra/activities.ts';
import type { InterpreterClock } from '../../infra/local/engine/interpreter/interpreter.ts';
import {
  type ExecutionOutcome,
  type LambdaHandler,
  type LocalFunction,
  LocalOrchestrator,
} from '../../infra/local/engine/orchestrator.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type Workflow } from '../../infra/local/engine/workflows.ts';
import { type AslDefinition, validateAsl } from '../../infra/workflows/asl.ts';
import { assertQueryLanguage } from '../../infra/workflows/query-language.ts';

/*
 * The conformance suite's runner: each `cases/<feature>/<name>.json` is one small ASL definition with its input,
 * its Lambda stubs and what real Step Functions does with it (the `source` says where that is documented or
 * recorded). The runner loads the definition the way `wflo dev` does (asl-validator, then the orchestrator's own
 * load, which refuses what it cannot run) and runs it through the real LocalOrchestrator on a shared store. The
 * house rules of wflo's own workflows (infra/workflows/lint.ts) are not applied: they are wflo's conventions,
 * not Step Functions behaviour.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CASES_DIR = fileURLToPath(new URL('./cases/', import.meta.url));

/** A Lambda stub: what the function answers, after `delayMs`. `sequence` gives one answer per call (the last repeats). */
export interface Stub {
  readonly echo?: true;
  readonly returns?: unknown;
  readonly throws?: { readonly name: string; readonly message: string };
  readonly sequence?: readonly Stub[];
  readonly delayMs?: number;
}

const stubSchema: z.ZodType<Stub> = z.lazy(() =>
  z
    .strictObject({
      echo: z.literal(true).optional(),
      returns: z.unknown().optional(),
      throws: z.strictObject({ name: z.string().min(1), message: z.string() }).optional(),
      sequence: z.array(stubSchema).min(1).optional(),
      delayMs: z.number().int().nonnegative().optional(),
    })
    .refine(
      (s) => ['echo', 'returns', 'throws', 'sequence'].filter((k) => k in s).length === 1,
      'a stub has exactly one of echo, returns, throws, sequence',
    ),
);

const expectSchema = z.union([
  z
    .strictObject({ status: z.literal('SUCCEEDED'), output: z.unknown() })
    .refine((e) => 'output' in e, 'a SUCCEEDED expectation gives the output (null for none)'),
  z.strictObject({
    status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
    error: z.string().min(1).optional(),
    cause: z.string().optional(),
  }),
  z.strictObject({ refused: z.string().min(1) }),
]);

/** The case file format (see docs/local-runtime.md, "Conformance suite"). */
export const caseSchema = z.strictObject({
  feature: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'kebab-case feature name'),
  description: z.string().min(1),
  source: z.string().regex(/^https:\/\//, 'a https:// reference (AWS docs or a recording against AWS)'),
  definition: z.looseObject({ StartAt: z.string(), States: z.record(z.string(), z.unknown()) }),
  input: z.unknown().optional(),
  functions: z.record(z.string(), stubSchema).optional(),
  env: z.record(z.string(), z.string()).optional(),
  expect: expectSchema,
  /** Why the local engine differs from Step Functions here: the case is then expected to fail. */
  knownDifference: z.string().min(1).optional(),
});

export type ConformanceCase = z.infer<typeof caseSchema>;

/** A case file as found: its parsed case, or why it is not a valid case file. */
export interface CaseFile {
  /** Path relative to the repository root, as tests and reports name the case. */
  readonly file: string;
  readonly case?: ConformanceCase;
  readonly invalid?: string;
}

function listJson(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listJson(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
    )
    .sort();
}

/** Every `cases/**\/*.json`, parsed and validated; the folder does not matter, the `feature` field does. */
export function discoverCases(dir = CASES_DIR): CaseFile[] {
  return listJson(dir).map((path) => {
    const file = relative(ROOT, path);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      return { file, invalid: `${file}: not valid JSON (${(err as Error).message})` };
    }
    const parsed = caseSchema.safeParse(json);
    if (!parsed.success) {
      return { file, invalid: `${file}: not a valid conformance case:\n${z.prettifyError(parsed.error)}` };
    }
    return { file, case: parsed.data };
  });
}

/** How a case ended locally, in Step Functions' terms. */
export type Actual =
  | { readonly refused: string }
  | {
      readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'RUNNING';
      readonly output?: unknown;
      readonly error?: string;
      readonly cause?: string;
    };

export interface CaseResult {
  readonly file: string;
  readonly feature: string;
  readonly passed: boolean;
  readonly knownDifference?: string;
  /** Why it did not pass (what differed), empty when it passed. */
  readonly mismatch: string;
  readonly actual?: Actual;
  readonly ms: number;
}

/** Stub functions are given Lambda's largest timeout: the case's own TimeoutSeconds is what is under test. */
const STUB_ACTIVITY: ActivityDefinition = {
  id: 'conformance-stub',
  entry: 'tests/conformance/runner.ts',
  variable: 'ConformanceStub',
  description: 'A Lambda stub of a conformance case',
  memoryMb: 128,
  timeoutSeconds: 900,
  needs: [],
};

class StubError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

const FUNCTION_ARN = /^arn:aws:lambda:([^:]+):(\d{12}):function:([^:]+)(?::([^:]+))?$/;

/**
 * The names a stub answers to: the key as written, and the other ways a definition names the same function
 * (bare name, name:alias, the ARN in the docs' example account and in the local one).
 */
export function functionKeys(key: string): string[] {
  const m = FUNCTION_ARN.exec(key);
  const [name, alias] = m ? [m[3]!, m[4]] : (key.split(':') as [string, string | undefined]);
  const suffix = alias ? `:${alias}` : '';
  return [
    ...new Set([
      key,
      `${name}${suffix}`,
      `arn:aws:lambda:us-east-1:123456789012:function:${name}${suffix}`,
      `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}${suffix}`,
      ...(m ? [`arn:aws:lambda:${m[1]}:${m[2]}:function:${name}${suffix}`] : []),
    ]),
  ];
}

function stubHandler(stub: Stub): LambdaHandler {
  let calls = 0;
  const answer = async (s: Stub, event: unknown): Promise<unknown> => {
    if (s.delayMs) await new Promise((r) => setTimeout(r, s.delayMs));
    if (s.sequence) {
      const next = s.sequence[Math.min(calls++, s.sequence.length - 1)]!;
      return answer(next, event);
    }
    if (s.throws) throw new StubError(s.throws.name, s.throws.message);
    if (s.echo) return event;
    return s.returns;
  };
  return (event: unknown, _context: Context) => answer(stub, event);
}

function stubFunctions(functions: ConformanceCase['functions']): Map<string, LocalFunction> {
  const out = new Map<string, LocalFunction>();
  for (const [key, stub] of Object.entries(functions ?? {})) {
    const fn: LocalFunction = { activity: STUB_ACTIVITY, handler: stubHandler(stub) };
    for (const k of functionKeys(key)) if (!out.has(k) || k === key) out.set(k, fn);
  }
  return out;
}

/**
 * Waits take no time here (the Wait's arithmetic is still the engine's): a case proves what a Wait computes and
 * outputs, not that a timer fires. Task timeouts keep the real clock (they race the stub's real delay).
 */
const INSTANT: InterpreterClock = {
  now: () => Date.now(),
  sleep: (_ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      setImmediate(resolve);
    }),
};

const STATUS: Record<ExecutionOutcome['status'], Exclude<Actual, { refused: string }>['status']> = {
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  timed_out: 'TIMED_OUT',
  cancelled: 'ABORTED',
  running: 'RUNNING',
};

/**
 * Runs cases that set `env` one at a time and with nothing else running (the environment is the process's);
 * the others run side by side.
 */
class EnvLock {
  #shared = 0;
  #exclusive: Promise<void> = Promise.resolve();
  #drained: (() => void)[] = [];

  async run<T>(exclusive: boolean, job: () => Promise<T>): Promise<T> {
    if (!exclusive) {
      await this.#exclusive;
      this.#shared++;
      try {
        return await job();
      } finally {
        this.#shared--;
        if (this.#shared === 0) for (const d of this.#drained.splice(0)) d();
      }
    }
    const before = this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((r) => {
      release = r;
    });
    await before;
    if (this.#shared > 0) await new Promise<void>((r) => this.#drained.push(r));
    try {
      return await job();
    } finally {
      release();
    }
  }
}

const lock = new EnvLock();

function withEnv<T>(env: Record<string, string> | undefined, job: () => Promise<T>): Promise<T> {
  const entries = Object.entries(env ?? {});
  return lock.run(entries.length > 0, async () => {
    const saved = entries.map(([k]) => [k, process.env[k]] as const);
    for (const [k, v] of entries) process.env[k] = v;
    try {
      return await job();
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
}

// asl-validator's Ajv is compiled once per process: infra/workflows/asl.ts keeps it (validateAsl below).

/** A workflow name from a case file path (workflow names are kebab-case, at most 41 characters). */
function workflowName(file: string): string {
  const base = file
    .replace(/^.*cases\//, '')
    .replace(/\.json$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `c-${base}`.slice(0, 41).replace(/-+$/, '');
}

/** Loads and runs one case through the local engine: what Step Functions' console would show for it. */
export async function runCase(file: string, c: ConformanceCase, store: Store): Promise<Actual> {
  return withEnv(c.env, async () => {
    const name = workflowName(file);
    let orchestrator: LocalOrchestrator;
    try {
      // In checkWorkflow's order: the query-language rules first (asl-validator's schema errors for a state
      // mixing the two languages would not name it), then asl-validator, on a copy since it writes each
      // state's QueryLanguage into what it checks.
      assertQueryLanguage(file, c.definition as AslDefinition);
      validateAsl(structuredClone(c.definition), file);
      const workflow: Workflow = {
        name,
        description: c.description,
        file,
        definition: structuredClone(c.definition) as AslDefinition,
        variables: [],
      };
      orchestrator = new LocalOrchestrator({
        workflows: new Map([[name, workflow]]),
        functions: stubFunctions(c.functions),
        store,
        retryIntervalScale: 0,
        clock: INSTANT,
      });
    } catch (err) {
      return { refused: err instanceof Error ? err.message : String(err) };
    }
    const id = `${name.slice(0, 30)}-${randomUUID()}`;
    const input = c.input === undefined ? {} : c.input;
    await store.createExecution({ id, workflow: name, input });
    const outcome = await orchestrator.start(name, id, input).done;
    await orchestrator.close();
    return {
      status: STATUS[outcome.status],
      ...(outcome.status === 'succeeded' ? { output: outcome.output ?? null } : {}),
      ...(outcome.error ? { error: outcome.error.error, cause: outcome.error.cause } : {}),
    };
  });
}

/** What differs between the expectation and what happened; empty when the case passes. */
export function compare(expect: ConformanceCase['expect'], actual: Actual): string {
  const show = (v: unknown) => JSON.stringify(v);
  if ('refused' in expect) {
    if (!('refused' in actual))
      return `expected the load to be refused (${show(expect.refused)}), but it ran: ${show(actual)}`;
    return actual.refused.includes(expect.refused)
      ? ''
      : `expected the load error to contain ${show(expect.refused)}, got: ${actual.refused}`;
  }
  if ('refused' in actual) return `expected ${expect.status}, but the load was refused: ${actual.refused}`;
  const problems: string[] = [];
  if (actual.status !== expect.status) problems.push(`status ${actual.status}, expected ${expect.status}`);
  if (expect.status === 'SUCCEEDED') {
    // Through JSON, as Step Functions hands output over (undefined members drop out).
    const got = actual.output === undefined ? undefined : JSON.parse(JSON.stringify(actual.output));
    if (!isDeepStrictEqual(got, expect.output))
      problems.push(`output ${show(got)}, expected ${show(expect.output)}`);
  } else {
    if (expect.error !== undefined && actual.error !== expect.error)
      problems.push(`error ${show(actual.error)}, expected ${show(expect.error)}`);
    if (expect.cause !== undefined && actual.cause !== expect.cause)
      problems.push(`cause ${show(actual.cause)}, expected ${show(expect.cause)}`);
  }
  if (problems.length && actual.status !== 'SUCCEEDED' && expect.status === 'SUCCEEDED')
    problems.push(`(error ${show(actual.error)}: ${actual.cause})`);
  return problems.join('; ');
}

/** Runs one discovered case file and says whether it matched. */
export async function checkCase(entry: CaseFile, store: Store): Promise<CaseResult> {
  const t0 = performance.now();
  const feature = entry.case?.feature ?? entry.file.split('/').at(-2) ?? 'unknown';
  if (!entry.case) {
    return { file: entry.file, feature, passed: false, mismatch: entry.invalid!, ms: 0 };
  }
  let actual: Actual;
  try {
    actual = await runCase(entry.file, entry.case, store);
  } catch (err) {
    return {
      file: entry.file,
      feature,
      passed: false,
      mismatch: `the runner failed: ${(err as Error).stack ?? String(err)}`,
      ms: performance.now() - t0,
    };
  }
  const mismatch = compare(entry.case.expect, actual);
  return {
    file: entry.file,
    feature,
    passed: mismatch === '',
    ...(entry.case.knownDifference ? { knownDifference: entry.case.knownDifference } : {}),
    mismatch,
    actual,
    ms: performance.now() - t0,
  };
}

/** Per feature: cases run, passed, failed, and how many of the failures are listed known differences. */
export function summarize(results: readonly CaseResult[]) {
  const byFeature = new Map<string, { run: number; passed: number; failed: number; known: number }>();
  for (const r of results) {
    const f = byFeature.get(r.feature) ?? { run: 0, passed: 0, failed: 0, known: 0 };
    f.run++;
    if (r.passed) f.passed++;
    else {
      f.failed++;
      if (r.knownDifference) f.known++;
    }
    byFeature.set(r.feature, f);
  }
  return [...byFeature.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/** The summary as a text table: one line per feature and a total. */
export function formatSummary(results: readonly CaseResult[]): string {
  const rows = summarize(results);
  const total = rows.reduce(
    (t, [, f]) => ({
      run: t.run + f.run,
      passed: t.passed + f.passed,
      failed: t.failed + f.failed,
      known: t.known + f.known,
    }),
    { run: 0, passed: 0, failed: 0, known: 0 },
  );
  const pct = (p: number, n: number) => (n === 0 ? '-' : `${((100 * p) / n).toFixed(1)}%`);
  const line = (name: string, f: typeof total) =>
    `  ${name.padEnd(22)} ${String(f.run).padStart(4)} ${String(f.passed).padStart(6)} ${String(f.failed).padStart(6)} ${String(f.known).padStart(6)} ${pct(f.passed, f.run).padStart(7)}`;
  return [
    `  ${'feature'.padEnd(22)} ${'run'.padStart(4)} ${'passed'.padStart(6)} ${'failed'.padStart(6)} ${'known'.padStart(6)} ${'rate'.padStart(7)}`,
    ...rows.map(([name, f]) => line(name, f)),
    line('TOTAL', total),
  ].join('\n');
}

/** Runs every case at most `concurrency` at a time (the bench's entry point; the vitest file runs one test per case). */
export async function runAll(store: Store, concurrency = 8, cases = discoverCases()): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= cases.length) return;
      results[i] = await checkCase(cases[i]!, store);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cases.length) }, worker));
  return results;
}
