import { createHash } from 'node:crypto';
import {
  catchOutput,
  choose,
  effectiveInput,
  failInfo,
  mapItemInput,
  mapItems,
  mapLimits,
  type QueryLanguage,
  queryLanguageOf,
  type Scope,
  stateOutput,
  taskParameters,
  taskTimeouts,
  waitUntilMs,
} from '../asl/data-flow.ts';
import { StatesError } from '../asl/errors.ts';
import type { LocalS3 } from '../integrations/s3.ts';
import { errorMatches, retryDelayMs } from '../task-rules.ts';
import { PAYLOAD_LIMIT_BYTES } from '../types.ts';
import type { AslDefinition, AslState, Retrier } from '../workflows.ts';
import {
  executionTypeOf,
  type ItemOutcome,
  isDistributed,
  mapRunOf,
  readItems,
  THRESHOLD_EXCEEDED,
  toleranceOf,
  writeResults,
} from './distributed-map.ts';
import { JOURNAL_KEYS, type Journal, type StepRecord, type WaitRecord } from './journal.ts';

/*
 * wflo's own ASL interpreter for the embedded engine. It runs a definition as Step Functions does (Pass,
 * Task, Choice, Wait, Succeed, Fail, Map, Parallel; Retry and Catch; per-entry `$$`) and makes the run
 * replayable: every entry that calls out or waits is journaled under a key made of its position in the run
 * (`State#visit`, Map index, Parallel branch, the Map/Parallel attempt), so running the same definition over
 * the same journal again answers finished entries from their records, waits only what is left of a Wait or a
 * retry's back-off, and calls again only what was in flight. Data flow (paths, intrinsics, Choice rules) is in
 * `../asl/`.
 */

/** One attempt of a Task, as the engine hands it to whatever runs the resource. */
export interface TaskAttempt {
  readonly stateName: string;
  readonly state: AslState;
  /** The resolved Parameters/Arguments. */
  readonly params: unknown;
  readonly context: Record<string, unknown>;
  readonly enteredTime: string;
  readonly attempt: number;
  /** The attempt's TimeoutSeconds deadline (epoch ms), when the state has one. */
  readonly deadlineAt: number | undefined;
  readonly heartbeatSeconds: number | undefined;
  /** Journal position of the entry (stable across replays). */
  readonly path: string;
  readonly signal: AbortSignal;
}

export interface InterpreterClock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface InterpreterOptions {
  readonly definition: AslDefinition;
  readonly executionId: string;
  /** `$$.Execution` and `$$.StateMachine` (the interpreter adds `State`, `Map` and `Task` per entry). */
  readonly context: { Execution: Record<string, unknown>; StateMachine: Record<string, unknown> };
  readonly journal: Journal;
  readonly signal: AbortSignal;
  readonly clock: InterpreterClock;
  /** Runs one attempt of a Task's resource; throws an error whose `name` Retry/Catch match. */
  runTask(attempt: TaskAttempt): Promise<unknown>;
  /** True when the Task's resource is a callback (`.waitForTaskToken`): it gets a `$$.Task.Token`. */
  isCallback(state: AslState): boolean;
  /** Waits for the answer to a callback token (SendTaskSuccess/Failure), honouring deadline and heartbeat. */
  awaitCallback(attempt: TaskAttempt & { token: string }): Promise<unknown>;
  /** Mints the token for a callback attempt. */
  newToken(path: string, attempt: number): string;
  /** Every state entered (Step Functions bills each), replays included. */
  onStateEntered?(stateName: string): void;
  /** Multiplies Retry intervals (tests). @default 1 */
  readonly retryIntervalScale?: number;
  /** Where a Distributed Map's ItemReader reads and its ResultWriter writes. @default none: such a Map fails */
  readonly s3?: LocalS3;
}

/**
 * Every state's output is held to the payload limit, not only a Task's result: a Pass, Map or Parallel whose
 * output grows past it fails with States.DataLimitExceeded (which `States.ALL` does not catch).
 */
function assertWithinPayloadLimit(stateName: string, output: unknown): void {
  let json: string | undefined;
  try {
    json = JSON.stringify(output);
  } catch (error) {
    // Nested deeper than the serializer's stack (thousands of levels; the API refuses such input): the output
    // could never be handed to the next state or recorded, so the run fails here rather than on a raw RangeError.
    if (!(error instanceof RangeError)) throw error;
    throw new StatesError(
      'States.Runtime',
      `The state '${stateName}' produced an output nested too deeply to serialize.`,
    );
  }
  // Most outputs are far below the limit; UTF-8 is at most 3 bytes per UTF-16 unit, so count bytes only near it.
  if (json === undefined || json.length * 3 <= PAYLOAD_LIMIT_BYTES) return;
  if (Buffer.byteLength(json, 'utf8') <= PAYLOAD_LIMIT_BYTES) return;
  throw new StatesError(
    'States.DataLimitExceeded',
    `The state/task '${stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
  );
}

/** Errors Step Functions never lets `States.ALL` retry or catch. */
const UNCATCHABLE_BY_ALL = new Set(['States.Runtime', 'States.DataLimitExceeded']);

function matches(errorEquals: readonly string[], name: string): boolean {
  if (UNCATCHABLE_BY_ALL.has(name)) return errorEquals.includes(name);
  return errorMatches(errorEquals, name);
}

function asStatesError(err: unknown): StatesError {
  if (err instanceof StatesError) return err;
  if (err instanceof Error) {
    const e = new StatesError(err.name, err.message);
    return e;
  }
  return new StatesError('States.Runtime', String(err));
}

interface Branch {
  readonly definition: AslDefinition;
  /** Key prefix of every entry inside this branch instance. */
  readonly prefix: string;
  /** `$$.Map` of the iteration this branch runs, if any. */
  readonly map?: { Item: { Index: number; Value: unknown } };
  readonly signal: AbortSignal;
  variables: Record<string, unknown>;
}

type StateResult = { output: unknown; next: string | undefined };

/** Runs one execution (or a replay of it) to its output; rejects with the error that ended it. */
export class Interpreter {
  readonly #o: InterpreterOptions;
  readonly #rootLanguage: { QueryLanguage?: string };

  constructor(options: InterpreterOptions) {
    this.#o = options;
    this.#rootLanguage = { QueryLanguage: options.definition.QueryLanguage as string | undefined };
  }

  async run(input: unknown): Promise<unknown> {
    const output = await this.#runBranch(
      { definition: this.#o.definition, prefix: '', signal: this.#o.signal, variables: {} },
      input,
    );
    // A cancel or the execution's timeout that came while the last state ran still ends the run that way.
    if (this.#o.signal.aborted) throw this.#o.signal.reason;
    return output;
  }

  async #runBranch(branch: Branch, input: unknown): Promise<unknown> {
    const visits = new Map<string, number>();
    let name: string | undefined = branch.definition.StartAt;
    let data = input;
    while (name !== undefined) {
      if (branch.signal.aborted) throw branch.signal.reason;
      const state = branch.definition.States[name];
      if (!state) throw new StatesError('States.Runtime', `state '${name}' does not exist`);
      const visit = (visits.get(name) ?? 0) + 1;
      visits.set(name, visit);
      this.#o.onStateEntered?.(name);
      const r = await this.#runState(branch, name, state, `${branch.prefix}${name}#${visit}`, data);
      assertWithinPayloadLimit(name, r.output);
      data = r.output;
      name = r.next;
    }
    return data;
  }

  #scope(
    branch: Branch,
    stateName: string,
    enteredTime: string,
    /** Only states that can retry (Task, Map, Parallel) have `$$.State.RetryCount`, as on Step Functions. */
    retryCount: number | undefined,
    seed: string,
    token?: string,
  ): Scope {
    const context: Record<string, unknown> = {
      ...this.#o.context,
      State: {
        Name: stateName,
        EnteredTime: enteredTime,
        ...(retryCount === undefined ? {} : { RetryCount: retryCount }),
      },
      ...(branch.map ? { Map: branch.map } : {}),
      ...(token ? { Task: { Token: token } } : {}),
    };
    // Deterministic per entry and attempt, so a replay resolves States.UUID / States.MathRandom the same way.
    let counter = 0;
    const bytes = () => createHash('sha256').update(`${this.#o.executionId}/${seed}/${counter++}`).digest();
    return {
      context,
      variables: branch.variables,
      nowMs: this.#o.clock.now(),
      random: () => bytes().readUInt32BE(0) / 2 ** 32,
      uuid: () => {
        const b = bytes().subarray(0, 16);
        b[6] = (b[6]! & 0x0f) | 0x40;
        b[8] = (b[8]! & 0x3f) | 0x80;
        const h = b.toString('hex');
        return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      },
    };
  }

  #ql(state: AslState): Promise<QueryLanguage> {
    return queryLanguageOf(this.#rootLanguage, state);
  }

  #assign(branch: Branch, assign: Record<string, unknown>): void {
    if (Object.keys(assign).length > 0) branch.variables = { ...branch.variables, ...assign };
  }

  async #runState(
    branch: Branch,
    name: string,
    state: AslState,
    path: string,
    raw: unknown,
  ): Promise<StateResult> {
    const ql = await this.#ql(state);
    const now = new Date(this.#o.clock.now()).toISOString();
    const next = state.End === true ? undefined : state.Next;
    switch (state.Type) {
      case 'Pass': {
        const scope = this.#scope(branch, name, now, undefined, path);
        const eff = await effectiveInput(state, raw, scope, ql);
        const params = await taskParameters(state, eff, scope, ql);
        const { output, assign } = await stateOutput(state, raw, params, scope, ql);
        this.#assign(branch, assign);
        return { output, next };
      }
      case 'Succeed': {
        const scope = this.#scope(branch, name, now, undefined, path);
        const eff = await effectiveInput(state, raw, scope, ql);
        const { output } = await stateOutput(state, raw, eff, scope, ql);
        return { output, next: undefined };
      }
      case 'Fail': {
        const { error, cause } = await failInfo(
          state,
          raw,
          this.#scope(branch, name, now, undefined, path),
          ql,
        );
        throw new StatesError(error, cause);
      }
      case 'Choice': {
        const r = await choose(state, raw, this.#scope(branch, name, now, undefined, path), ql);
        this.#assign(branch, r.assign);
        return { output: r.output, next: r.next };
      }
      case 'Wait':
        return { output: await this.#wait(branch, name, state, path, raw, ql, now), next };
      case 'Task':
      case 'Map':
      case 'Parallel':
        return this.#withPolicy(branch, name, state, path, raw, ql);
      default:
        throw new StatesError(
          'States.Runtime',
          `state '${name}' has an unknown Type '${String(state.Type)}'`,
        );
    }
  }

  async #wait(
    branch: Branch,
    name: string,
    state: AslState,
    path: string,
    raw: unknown,
    ql: QueryLanguage,
    now: string,
  ): Promise<unknown> {
    const scope = this.#scope(branch, name, now, undefined, path);
    const eff = await effectiveInput(state, raw, scope, ql);
    const key = JOURNAL_KEYS.wait(path);
    let record = this.#o.journal.read<WaitRecord>(key);
    if (!record) {
      record = { until: await waitUntilMs(state, eff, scope, ql) };
      await this.#o.journal.write(key, record);
    }
    const left = record.until - this.#o.clock.now();
    if (left > 0) await this.#o.clock.sleep(left, branch.signal);
    const { output } = await stateOutput(state, raw, eff, scope, ql);
    return output;
  }

  /** Task, Map and Parallel: the entry's record, its attempts under Retry, and Catch. */
  async #withPolicy(
    branch: Branch,
    name: string,
    state: AslState,
    path: string,
    raw: unknown,
    ql: QueryLanguage,
  ): Promise<StateResult> {
    const journal = this.#o.journal;
    const key = JOURNAL_KEYS.step(path);
    const retry: readonly Retrier[] = (state.Retry as Retrier[] | undefined) ?? [];
    const catchers = (state.Catch ?? []) as {
      ErrorEquals: string[];
      Next: string;
      ResultPath?: string | null;
    }[];
    let record = journal.read<StepRecord>(key);
    const firstScope = this.#scope(
      branch,
      name,
      record?.enteredTime ?? new Date(this.#o.clock.now()).toISOString(),
      record?.attempt ?? 0,
      path,
    );
    const eff = await effectiveInput(state, raw, firstScope, ql);
    const timeouts = state.Type === 'Task' ? await taskTimeouts(state, eff, firstScope, ql) : {};
    const timeoutMs = timeouts.timeoutSeconds === undefined ? undefined : timeouts.timeoutSeconds * 1000;
    if (!record) {
      const at = this.#o.clock.now();
      record = {
        kind: state.Type,
        enteredTime: new Date(at).toISOString(),
        attempt: 0,
        counts: retry.map(() => 0),
        ...(timeoutMs === undefined ? {} : { deadlineAt: at + timeoutMs }),
      };
      await journal.write(key, record);
    }
    let outcome: { ok: true; output: unknown } | { ok: false; error: StatesError };
    for (;;) {
      const done = record.result;
      if (done) {
        outcome = done.ok
          ? { ok: true, output: done.output }
          : { ok: false, error: new StatesError(done.error, done.cause) };
        break;
      }
      if (record.nextAt !== undefined && record.nextAt > this.#o.clock.now()) {
        await this.#o.clock.sleep(record.nextAt - this.#o.clock.now(), branch.signal);
      }
      if (record.deadlineAt === undefined && timeoutMs !== undefined) {
        record = { ...record, deadlineAt: this.#o.clock.now() + timeoutMs };
        await journal.write(key, record);
      }
      try {
        const result = await this.#attempt(
          branch,
          name,
          state,
          path,
          raw,
          eff,
          ql,
          record,
          timeouts.heartbeatSeconds,
          (r) => {
            record = r;
          },
        );
        // An attempt that returned after its run was stopped (an integration answering its abort) is not a result.
        if (branch.signal.aborted) throw branch.signal.reason;
        record = { ...record, result: { ok: true, output: result } };
        await journal.write(key, record);
      } catch (err) {
        if (branch.signal.aborted) throw branch.signal.reason;
        const error = asStatesError(err);
        const index = retry.findIndex((r) => matches(r.ErrorEquals, error.name));
        const retrier = retry[index];
        if (retrier && record.counts[index]! < (retrier.MaxAttempts ?? 3)) {
          const delay: number =
            retryDelayMs(retrier, record.counts[index]!) * (this.#o.retryIntervalScale ?? 1);
          const counts: number[] = record.counts.map((c, i) => (i === index ? c + 1 : c));
          const nextAt: number = this.#o.clock.now() + delay;
          record = {
            kind: state.Type,
            enteredTime: record.enteredTime,
            attempt: record.attempt + 1,
            counts,
            nextAt,
            ...(timeoutMs === undefined ? {} : { deadlineAt: nextAt + timeoutMs }),
          };
          await journal.write(key, record);
          continue;
        }
        const caught = catchers.some((c) => matches(c.ErrorEquals, error.name));
        record = { ...record, result: { ok: false, error: error.name, cause: error.message, caught } };
        await journal.write(key, record);
      }
    }
    if (outcome.ok) {
      const scope = this.#scope(branch, name, record.enteredTime, record.attempt, path);
      const { output, assign } = await stateOutput(state, raw, outcome.output, scope, ql);
      this.#assign(branch, assign);
      return { output, next: state.End === true ? undefined : state.Next };
    }
    const catcher = catchers.find((c) => matches(c.ErrorEquals, outcome.error.name));
    if (!catcher) throw outcome.error;
    const scope = this.#scope(branch, name, record.enteredTime, record.attempt, path);
    const { output, assign } = await catchOutput(
      catcher,
      raw,
      { Error: outcome.error.name, Cause: outcome.error.message },
      scope,
      ql,
    );
    this.#assign(branch, assign);
    return { output, next: catcher.Next };
  }

  async #attempt(
    branch: Branch,
    name: string,
    state: AslState,
    path: string,
    _raw: unknown,
    eff: unknown,
    ql: QueryLanguage,
    record: StepRecord,
    heartbeatSeconds: number | undefined,
    update: (r: StepRecord) => void,
  ): Promise<unknown> {
    const seed = `${path}@${record.attempt}`;
    if (state.Type === 'Map') return this.#map(branch, name, state, path, eff, ql, record);
    if (state.Type === 'Parallel') {
      const scope = this.#scope(branch, name, record.enteredTime, record.attempt, seed);
      const params = await taskParameters(state, eff, scope, ql);
      return this.#parallel(branch, state, path, params, record);
    }
    const callback = this.#o.isCallback(state);
    let token = record.token;
    if (callback && !token) {
      token = this.#o.newToken(path, record.attempt);
      record = { ...record, token };
      await this.#o.journal.write(JOURNAL_KEYS.step(path), record);
      update(record);
    }
    const scope = this.#scope(branch, name, record.enteredTime, record.attempt, seed, token);
    const params = await taskParameters(state, eff, scope, ql);
    const attempt: TaskAttempt = {
      stateName: name,
      state,
      params,
      context: scope.context,
      enteredTime: record.enteredTime,
      attempt: record.attempt,
      deadlineAt: record.deadlineAt,
      heartbeatSeconds,
      path,
      signal: branch.signal,
    };
    if (record.deadlineAt !== undefined && record.deadlineAt <= this.#o.clock.now()) {
      throw new StatesError(
        'States.Timeout',
        `State timed out after ${state.TimeoutSeconds ?? 'its'} seconds`,
      );
    }
    if (!callback) return this.#o.runTask(attempt);
    if (!record.invoked) {
      await this.#o.runTask(attempt);
      record = { ...record, invoked: true };
      await this.#o.journal.write(JOURNAL_KEYS.step(path), record);
      update(record);
    }
    return this.#o.awaitCallback({ ...attempt, token: token! });
  }

  async #map(
    branch: Branch,
    name: string,
    state: AslState,
    path: string,
    eff: unknown,
    ql: QueryLanguage,
    record: StepRecord,
  ): Promise<unknown> {
    const scope = this.#scope(branch, name, record.enteredTime, record.attempt, `${path}@${record.attempt}`);
    const distributed = isDistributed(state);
    const s3 = this.#o.s3;
    if (distributed && (state.ItemReader !== undefined || state.ResultWriter !== undefined) && !s3) {
      throw new StatesError(
        'States.Runtime',
        `Map state '${name}' needs an S3 for its ItemReader/ResultWriter`,
      );
    }
    const read =
      distributed && state.ItemReader !== undefined ? await readItems(state, eff, scope, ql, s3!) : undefined;
    const items = await mapItems(state, eff, scope, ql, read);
    const limits = await mapLimits(state, eff, scope, ql);
    // Distributed: a failed item fails the Map only past the tolerated thresholds (any failure, with none set).
    const exceeded = distributed ? await toleranceOf(state, eff, scope, ql) : undefined;
    const outcomes = new Array<ItemOutcome>(items.length);
    let failed = 0;
    const startedAt = this.#o.clock.now();
    const processor = (state.ItemProcessor ?? state.Iterator) as AslDefinition | undefined;
    if (!processor) throw new StatesError('States.Runtime', `Map state '${name}' has no ItemProcessor`);
    const controller = new AbortController();
    const onAbort = () => controller.abort(branch.signal.reason);
    branch.signal.addEventListener('abort', onAbort, { once: true });
    const results = new Array<unknown>(items.length);
    let nextIndex = 0;
    let failure: unknown;
    const worker = async () => {
      while (failure === undefined && nextIndex < items.length) {
        const index = nextIndex++;
        const mapContext = { Item: { Index: index, Value: items[index] } };
        const child: Branch = {
          definition: processor,
          prefix: `${path}.${record.attempt}[${index}]/`,
          map: mapContext,
          signal: controller.signal,
          variables: branch.variables,
        };
        let input: unknown;
        try {
          const itemScope = this.#scope(child, name, record.enteredTime, record.attempt, `${path}[${index}]`);
          input = await mapItemInput(state, eff, itemScope, ql);
          results[index] = await this.#runBranch(child, input);
          outcomes[index] = { ok: true, input, output: results[index] };
        } catch (caught) {
          let err = caught;
          if (exceeded && !branch.signal.aborted && !controller.signal.aborted) {
            const e = asStatesError(caught);
            failed++;
            outcomes[index] = { ok: false, input, error: e.name, cause: e.message };
            results[index] = { Error: e.name, Cause: e.message };
            if (!exceeded(failed, items.length)) continue;
            err = new StatesError(
              THRESHOLD_EXCEEDED,
              'The specified tolerated failure threshold was exceeded',
            );
          }
          if (failure === undefined) {
            failure = err;
            // One failed iteration fails the Map: the others stop, as Step Functions stops them.
            controller.abort(new StatesError('States.Runtime', 'Map iteration stopped'));
          }
        }
      }
    };
    try {
      const width = limits.maxConcurrency > 0 ? Math.min(limits.maxConcurrency, items.length) : items.length;
      await Promise.all(Array.from({ length: width }, worker));
    } finally {
      branch.signal.removeEventListener('abort', onAbort);
    }
    if (branch.signal.aborted) throw branch.signal.reason;
    if (failure !== undefined) throw failure;
    const writer = state.ResultWriter as { Resource?: unknown } | undefined;
    if (distributed && writer?.Resource !== undefined) {
      const machine = String((this.#o.context.StateMachine as { Name?: unknown }).Name ?? 'local');
      const run = mapRunOf(state, name, machine, `${this.#o.executionId}/${path}@${record.attempt}`);
      return writeResults(
        state,
        eff,
        scope,
        ql,
        s3!,
        run,
        machine,
        executionTypeOf(state),
        startedAt,
        outcomes,
      );
    }
    return results;
  }

  async #parallel(
    branch: Branch,
    state: AslState,
    path: string,
    input: unknown,
    record: StepRecord,
  ): Promise<unknown> {
    const branches = (state.Branches ?? []) as AslDefinition[];
    const controller = new AbortController();
    const onAbort = () => controller.abort(branch.signal.reason);
    branch.signal.addEventListener('abort', onAbort, { once: true });
    let failure: unknown;
    try {
      const results = await Promise.all(
        branches.map((definition, i) =>
          this.#runBranch(
            {
              definition,
              prefix: `${path}.${record.attempt}{${i}}/`,
              signal: controller.signal,
              variables: branch.variables,
            },
            structuredClone(input),
          ).catch((err: unknown) => {
            if (failure === undefined) {
              failure = err;
              controller.abort(new StatesError('States.Runtime', 'Parallel branch stopped'));
            }
            return undefined;
          }),
        ),
      );
      if (branch.signal.aborted) throw branch.signal.reason;
      if (failure !== undefined) throw failure;
      return results;
    } finally {
      branch.signal.removeEventListener('abort', onAbort);
    }
  }
}
