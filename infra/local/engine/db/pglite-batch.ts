import type { PGlite, QueryOptions, Results } from '@electric-sql/pglite';

/**
 * Group commit for PGlite.
 *
 * PGlite runs one statement at a time, and its cost per `query()` is mostly the extended-protocol
 * exchange (parse, describe, bind, execute, sync through the WASM boundary), not the statement: a small
 * INSERT costs ~300 µs alone and ~25 µs as one of many statements in a single simple-protocol message.
 * Many executions write at once, so this client queues the statements that arrive in one turn of the
 * event loop (and while PGlite is busy) and sends them together as one message. Postgres runs a multi-statement message as one implicit
 * transaction, so a batch commits (and is synced to disk) as a whole before any caller sees its result,
 * and each caller's statement stays atomic; the statements see each other's effects in arrival order,
 * exactly as if they had run one after the other.
 *
 * If any statement of a batch fails, Postgres rolls the whole batch back; the statements are then run
 * again one by one with the ordinary extended protocol, so each caller gets its own result or its own
 * error, and nothing of the failed batch stays written.
 *
 * Each statement text is PREPAREd the first time it is seen (Postgres types its parameters from
 * context, as Parse does) and then EXECUTEd with its parameters as quoted literals, so it is parsed and
 * planned once. A text that cannot be prepared untyped is sent with the literals inlined. A statement
 * whose parameters have no unambiguous text form (arrays, binary data, strings with NUL), that is not one
 * plain statement, or that asks for query options other than row mode and parsers is not batched: it
 * runs alone, as before. A batch of one is sent the same way (one simple-protocol message is cheaper
 * than the extended protocol's five).
 *
 * A batch carries at most {@link MAX_BATCH} statements, and when more wait, the statements of the callers
 * answered most recently go first (each caller's next statement joins the newest generation). Many callers
 * that start together (a restart resuming hundreds of runs, a burst of starts) then do not advance in
 * lockstep, every caller's first statement, then every caller's second, all reaching their network waits
 * (model calls) together at the end with the CPU idle while they wait: the first callers run their chains to
 * their waits while the others queue, so waits overlap the rest of the work. Statements waiting longer than
 * {@link AGED_MS} take up to half of each batch, oldest first, so no caller starves under sustained load.
 * Reordering waiting statements changes no outcome for code that awaits what it depends on: none of them has been
 * answered, so no caller can depend on another's effect yet. What keeps its order: statements issued in one turn
 * of the event loop, and a chain that awaits each statement before the next. What may not: a statement issued
 * while an earlier one of the same caller is still unanswered (after a wait that is not the store), and anything
 * that bypasses the queue (a transaction, `exec`, a statement that is not batched) against queued statements.
 * As with a PostgreSQL pool, code that needs two writes in order awaits the first (orchestrator.ts renews leases
 * one at a time and `close()` awaits the renewal in flight for this reason).
 */
export class BatchingPglite {
  /** Statements waiting for the next batch, in arrival order. */
  #queue: Pending[] = [];
  #flushing = false;
  /** Batches answered so far: a statement queued now belongs to this generation. */
  #generation = 0;
  /** Each statement text seen: where its parameters go, and the name it is prepared under. */
  #statements = new Map<string, Statement>();
  /** Parsers that keep every value as the server's text, so each caller's own parsers apply afterwards. */
  #rawParsers: Record<number, (value: string) => string> = {};
  #rawParserCount = -1;
  /** Figures for tests and benchmarks: batches run, statements they carried, replays, lone runs, prepared texts. */
  readonly stats = { batches: 0, batchedStatements: 0, replays: 0, unbatched: 0, prepared: 0 };

  /** The clock statements age by (a test's own clock). */
  readonly #now: () => number;

  constructor(
    readonly pglite: PGlite,
    options: { now?: () => number } = {},
  ) {
    this.#now = options.now ?? (() => performance.now());
  }

  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    const args = batchable(options) ? literals(params ?? []) : undefined;
    const statement = args && this.#statement(text);
    if (!args || !statement || !covers(statement.parts, args)) {
      this.stats.unbatched++;
      return this.pglite.query<T>(text, params, options);
    }
    return new Promise<Results<T>>((resolve, reject) => {
      this.#queue.push({
        text,
        params: params ?? [],
        options,
        args,
        statement,
        generation: this.#generation,
        queuedAt: this.#now(),
        resolve: resolve as (r: Results) => void,
        reject,
      });
      if (!this.#flushing) {
        this.#flushing = true;
        // After the I/O callbacks of this turn of the event loop, not at the end of this one: PGlite answers
        // through promises alone, so a drain in a microtask ran each caller's statement before the next
        // callback could add its own (batches of one), and ran the callers' whole chains of statements with
        // no network I/O in between.
        setImmediate(() => void this.#drain());
      }
    });
  }

  /** Transactions bypass batching: PGlite holds its transaction lock for their whole duration. */
  transaction<T>(callback: Parameters<PGlite['transaction']>[0]): Promise<T> {
    return this.pglite.transaction(callback) as Promise<T>;
  }

  exec(text: string, options?: QueryOptions): Promise<Results[]> {
    return this.pglite.exec(text, options);
  }

  close(): Promise<void> {
    return this.pglite.close();
  }

  /** The parsed form of a statement text, kept for the hot few hundred; undefined if it cannot be batched. */
  #statement(text: string): Statement | undefined {
    const known = this.#statements.get(text);
    if (known) return known;
    const parts = splitParams(text);
    if (!parts) return undefined;
    const statement: Statement = { parts, name: undefined };
    if (this.#statements.size < MAX_STATEMENTS) this.#statements.set(text, statement);
    return statement;
  }

  /**
   * Runs what is queued as one batch, then lets the event loop turn before the next: the callers answered
   * go on to their next statements (which join the next batch together), and network I/O waiting behind
   * them (a model answer, an HTTP request, a model call being sent) is served between batches instead of
   * after every chain of statements has run to its end.
   */
  async #drain(): Promise<void> {
    const batch = this.#take();
    try {
      if (batch.length > 0) await this.#run(batch);
    } finally {
      if (this.#queue.length > 0) setImmediate(() => void this.#drain());
      else this.#flushing = false;
    }
  }

  /**
   * The next batch: everything queued when it fits in {@link MAX_BATCH}; else up to half of it for what has
   * waited {@link AGED_MS} (oldest first), then the newest generations first, each in arrival order. The batch
   * keeps arrival order, and what is left stays queued in arrival order.
   */
  #take(): Pending[] {
    const queue = this.#queue;
    if (queue.length <= MAX_BATCH) {
      this.#queue = [];
      return queue;
    }
    const chosen = new Set<Pending>();
    // Arrival order: the aged statements are a prefix of the queue.
    const agedBefore = this.#now() - AGED_MS;
    for (const pending of queue) {
      if (chosen.size >= MAX_BATCH / 2 || pending.queuedAt > agedBefore) break;
      chosen.add(pending);
    }
    // Generations never decrease along the queue: walk it back segment by segment, each taken from its start.
    let end = queue.length;
    while (chosen.size < MAX_BATCH && end > 0) {
      const generation = queue[end - 1]!.generation;
      let start = end - 1;
      while (start > 0 && queue[start - 1]!.generation === generation) start--;
      for (let i = start; i < end && chosen.size < MAX_BATCH; i++) chosen.add(queue[i]!);
      end = start;
    }
    this.#queue = queue.filter((pending) => !chosen.has(pending));
    return queue.filter((pending) => chosen.has(pending));
  }

  /**
   * A statement seen for the first time is prepared (PREPARE types its parameters from context exactly as
   * the extended protocol's Parse does) so Postgres parses and plans it once, not on every run. A text
   * that cannot be prepared, or beyond the first few hundred, is sent with its parameters inlined.
   */
  async #prepare(batch: readonly Pending[]): Promise<void> {
    for (const { text, statement } of batch) {
      if (statement.name !== undefined || this.#statements.get(text) !== statement) continue;
      const name = `wflo_b${++preparedNames}`;
      try {
        await this.pglite.exec(`PREPARE ${name} AS ${text}`);
        statement.name = name;
        this.stats.prepared++;
      } catch {
        statement.name = null;
      }
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    await this.#prepare(batch);
    const sql = batch
      .map(({ statement: { name, parts }, args }) =>
        name
          ? args.length > 0
            ? `EXECUTE ${name}(${args.join(', ')})`
            : `EXECUTE ${name}`
          : parts.map((part) => (typeof part === 'number' ? args[part] : part)).join(''),
      )
      .join(';\n');
    let results: Results[];
    try {
      results = await this.pglite.exec(sql, { rowMode: 'array', parsers: this.#raw() });
    } catch {
      // The batch was rolled back as a whole: run each statement alone for its own outcome.
      this.stats.replays++;
      this.#generation++;
      for (const pending of batch) await this.#runAlone(pending);
      return;
    }
    // The callers answered now queue their next statements as the newest generation.
    this.#generation++;
    this.stats.batches++;
    this.stats.batchedStatements += batch.length;
    if (results.length !== batch.length) {
      // Cannot happen for single statements (checked when split); never guess which result is whose.
      const err = new Error(`PGlite batch returned ${results.length} results for ${batch.length} statements`);
      for (const pending of batch) pending.reject(err);
      return;
    }
    batch.forEach((pending, i) => {
      try {
        pending.resolve(this.#shape(results[i]!, pending.options));
      } catch (err) {
        pending.reject(err);
      }
    });
  }

  async #runAlone(pending: Pending): Promise<void> {
    try {
      pending.resolve(await this.pglite.query(pending.text, pending.params, pending.options));
    } catch (err) {
      pending.reject(err);
    }
  }

  #raw(): Record<number, (value: string) => string> {
    const known = Object.keys(this.pglite.parsers);
    if (known.length !== this.#rawParserCount) {
      this.#rawParsers = Object.fromEntries(known.map((oid) => [oid, keepText]));
      this.#rawParserCount = known.length;
    }
    return this.#rawParsers;
  }

  /** Turns one statement's raw result into what `query()` would have returned for the caller's options. */
  #shape(raw: Results, options: QueryOptions | undefined): Results {
    const parsers = options?.parsers;
    const parse = raw.fields.map(({ dataTypeID }) => {
      const own = parsers?.[dataTypeID] ?? this.pglite.parsers[dataTypeID];
      return own ? (v: unknown) => (v === null ? null : own(v as string, dataTypeID)) : (v: unknown) => v;
    });
    const arrays = (raw.rows as unknown[][]).map((row) => row.map((v, i) => parse[i]!(v)));
    const rows =
      options?.rowMode === 'array'
        ? arrays
        : arrays.map((row) => {
            const obj: Record<string, unknown> = {};
            raw.fields.forEach((f, i) => {
              obj[f.name] = row[i];
            });
            return obj;
          });
    // A multi-statement message reports affectedRows cumulatively; each statement's own count is rowCount.
    const counts = raw.command === 'INSERT' || raw.command === 'UPDATE' || raw.command === 'DELETE';
    const rowCount = (raw as Results & { rowCount?: number }).rowCount;
    return {
      rows,
      fields: raw.fields,
      affectedRows: counts || raw.command === 'MERGE' ? (rowCount ?? 0) : 0,
    } as Results;
  }
}

/** Prepared names are unique in the process, so two clients over one PGlite never collide. */
let preparedNames = 0;

/** How many distinct statement texts are kept parsed and prepared. */
const MAX_STATEMENTS = 500;

/**
 * The most statements one batch carries. A batch costs about 1 ms whatever its size plus each statement's own
 * cost: from 64 statements on, the per-statement cost of a file-backed store no longer falls (measured: ~60 µs
 * each at 64, 128 or 256 small upserts, ~95 µs at 32), so a larger batch only makes its callers wait together.
 */
export const MAX_BATCH = 64;

/** A statement waiting longer than this is guaranteed half of every batch (oldest first): no caller starves. */
export const AGED_MS = 1_000;

interface Statement {
  /** The text cut at its parameters: a number is a parameter's index. */
  readonly parts: readonly (string | number)[];
  /** Its prepared name; undefined until prepared, null if it cannot be. */
  name: string | null | undefined;
}

interface Pending {
  readonly text: string;
  readonly params: unknown[];
  readonly options: QueryOptions | undefined;
  /** The parameters as SQL literals. */
  readonly args: readonly string[];
  readonly statement: Statement;
  /** The batches answered before it was queued (the newest generation goes first). */
  readonly generation: number;
  /** When it was queued, in ms (a statement waiting {@link AGED_MS} is served among the oldest first). */
  readonly queuedAt: number;
  resolve(result: Results): void;
  reject(err: unknown): void;
}

const keepText = (value: string): string => value;

/** Only row mode and parsers can be honoured after the fact; any other option runs the statement alone. */
function batchable(options: QueryOptions | undefined): boolean {
  if (!options) return true;
  for (const key of Object.keys(options)) {
    if (key !== 'rowMode' && key !== 'parsers') return false;
  }
  return true;
}

/** A parameter as an SQL literal Postgres will type from context, or undefined when none is unambiguous. */
function literal(value: unknown): string | undefined {
  if (value === null || value === undefined) return 'NULL';
  switch (typeof value) {
    case 'string':
      return value.includes('\0') ? undefined : quote(value);
    case 'number':
    case 'bigint':
      return quote(String(value));
    case 'boolean':
      return value ? "'t'" : "'f'";
    case 'object':
      if (value instanceof Date)
        return Number.isNaN(value.getTime()) ? undefined : quote(value.toISOString());
      // Arrays are Postgres arrays or JSON depending on the column; binary needs bytea escaping.
      if (Array.isArray(value) || ArrayBuffer.isView(value)) return undefined;
      {
        const json = JSON.stringify(value);
        return json.includes('\\u0000') ? undefined : quote(json);
      }
    default:
      return undefined;
  }
}

/** standard_conforming_strings is on (the default since PostgreSQL 9.1): only quotes need doubling. */
function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Every parameter as a literal, or undefined if one has no unambiguous text form. */
function literals(params: readonly unknown[]): string[] | undefined {
  const out: string[] = [];
  for (const value of params) {
    const lit = literal(value);
    if (lit === undefined) return undefined;
    out.push(lit);
  }
  return out;
}

/**
 * Cuts a statement at its `$n` parameter references (as numbers: the parameter's index), skipping
 * quoted strings, quoted identifiers, dollar-quoted bodies and comments. Undefined when the text is not
 * one plain statement.
 */
export function splitParams(text: string): (string | number)[] | undefined {
  const parts: (string | number)[] = [];
  let i = 0;
  let from = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === ';') {
      // More than one statement: it would not map to one result of the batch.
      return undefined;
    } else if (c === "'" || c === '"') {
      // E'...' strings take backslash escapes; they are not worth parsing here.
      if (c === "'" && /[eE]/.test(text[i - 1] ?? '') && !/\w/.test(text[i - 2] ?? '')) return undefined;
      const end = closing(text, i + 1, c);
      if (end < 0) return undefined;
      i = end + 1;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return undefined;
      i = end + 2;
    } else if (c === '$') {
      const digits = /^\$(\d+)/.exec(text.slice(i, i + 12));
      // `a$1` is an identifier, not a parameter.
      if (digits && !/[\w$]/.test(text[i - 1] ?? '')) {
        parts.push(text.slice(from, i), Number(digits[1]) - 1);
        i += digits[0].length;
        from = i;
        continue;
      }
      const tag = /^\$[A-Za-z_]*\$/.exec(text.slice(i, i + 64));
      if (!tag) {
        i++;
        continue;
      }
      const end = text.indexOf(tag[0], i + tag[0].length);
      if (end < 0) return undefined;
      i = end + tag[0].length;
    } else {
      i++;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

/** The statement with its parameters inlined as literals; undefined if that cannot be done safely. */
export function inlineParams(text: string, params: readonly unknown[]): string | undefined {
  const parts = splitParams(text);
  const args = literals(params);
  if (!parts || !args || !covers(parts, args)) return undefined;
  return parts.map((part) => (typeof part === 'number' ? args[part] : part)).join('');
}

/** Whether every parameter the statement refers to was given. */
function covers(parts: readonly (string | number)[], args: readonly string[]): boolean {
  return parts.every((part) => typeof part === 'string' || part < args.length);
}

/** Index of the quote closing a literal or identifier opened before `from` (a doubled quote is escaped). */
function closing(text: string, from: number, q: string): number {
  let i = from;
  for (;;) {
    const j = text.indexOf(q, i);
    if (j < 0) return -1;
    if (text[j + 1] === q) {
      i = j + 2;
      continue;
    }
    return j;
  }
}
