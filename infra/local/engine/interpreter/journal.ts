/*
 * What the local engine keeps per execution so a run can be replayed after its process died: the records
 * the interpreter writes at each state entry that waits or calls out (Task, Map, Parallel, Wait), keyed by
 * where the entry sits in the run (state name, visit number, Map/Parallel position), never by wall-clock.
 */

/** A Task, Map or Parallel entry: its identity, retry progress, deadlines and, once it ended, its result. */
export interface StepRecord {
  /** The state's Type (a resume starts an interrupted Task again as its next attempt). */
  readonly kind?: string;
  /** `$$.State.EnteredTime` of the entry: a replay hands the same value on, so an activity's kept result matches. */
  readonly enteredTime: string;
  /** `$$.State.RetryCount` of the current attempt. */
  readonly attempt: number;
  /** Retries used per retrier (index in the state's Retry). */
  readonly counts: readonly number[];
  /** When the current attempt may start (a retry's back-off), epoch ms. */
  readonly nextAt?: number;
  /** The current attempt's TimeoutSeconds deadline, epoch ms. */
  readonly deadlineAt?: number;
  /** `.waitForTaskToken`: the token handed out for the current attempt. */
  readonly token?: string;
  /** `.waitForTaskToken`: the resource was invoked for the current attempt (a resume only waits). */
  readonly invoked?: boolean;
  /** How the entry ended; `caught` when a Catcher of the state routed the failure on. */
  readonly result?:
    | { readonly ok: true; readonly output: unknown }
    | { readonly ok: false; readonly error: string; readonly cause: string; readonly caught: boolean };
}

/** A Wait entry: the instant it ends. */
export interface WaitRecord {
  readonly until: number;
}

/** A callback's answer (SendTaskSuccess / SendTaskFailure), written once per token. */
export type CallbackRecord =
  | { readonly ok: true; readonly output: unknown }
  | { readonly ok: false; readonly error: string; readonly cause: string };

/** The execution's own record: when its current drive started (execution TimeoutSeconds counts from it). */
export interface DriveRecord {
  readonly startedAt: number;
  readonly redrives: number;
  /** State transitions already charged by earlier drives (a redrive charges only what it adds). */
  readonly transitionsCharged: number;
}

/** Journal keys: one namespace per record kind. */
export const JOURNAL_KEYS = {
  drive: 'x',
  step: (path: string) => `s:${path}`,
  wait: (path: string) => `w:${path}`,
  callback: (path: string, attempt: number) => `cb:${path}@${attempt}`,
} as const;

/** Where the interpreter keeps its records. Reads are served from what was loaded at the start of a drive. */
export interface Journal {
  read<T>(key: string): T | undefined;
  /** Durably writes (replaces) a record before the run moves past it. */
  write(key: string, value: unknown): Promise<void>;
}

/** A journal that keeps nothing beyond the process (tests, and runs that need no durability). */
export class MemoryJournal implements Journal {
  readonly entries = new Map<string, unknown>();
  read<T>(key: string): T | undefined {
    return this.entries.get(key) as T | undefined;
  }
  async write(key: string, value: unknown): Promise<void> {
    this.entries.set(key, value);
  }
}

/** The durable journal port the store implements (table `engine_journal`). */
export interface JournalStore {
  readJournal(executionId: string): Promise<Record<string, unknown>>;
  writeJournal(executionId: string, key: string, value: unknown): Promise<void>;
}

/**
 * A journal over the store: everything is loaded once per drive (or handed in, already read with others'
 * by a batch of resumes); each write is one upsert.
 */
export async function openJournal(
  store: JournalStore,
  executionId: string,
  loaded?: Record<string, unknown>,
): Promise<Journal> {
  const entries = new Map(Object.entries(loaded ?? (await store.readJournal(executionId))));
  return {
    read: <T>(key: string) => entries.get(key) as T | undefined,
    write: async (key, value) => {
      await store.writeJournal(executionId, key, value);
      entries.set(key, value);
    },
  };
}
