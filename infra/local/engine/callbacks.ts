import { randomBytes } from 'node:crypto';
import { TaskCallbackError } from '#shared/errors';
import type { Store } from '#shared/ports/store';
import { taskOutputJson } from '#shared/ports/task-callbacks';
import { StatesError } from './asl/errors.ts';
import { type CallbackRecord, JOURNAL_KEYS, type StepRecord } from './interpreter/journal.ts';

/**
 * Journal key of the answer to one token. The token's nonce is in it: a redriven attempt keeps its number but
 * gets a new token, and must not be answered by what failed it before (nor be refused as already answered).
 */
const answerKey = (path: string, attempt: number, token: string) =>
  `${JOURNAL_KEYS.callback(path, attempt)}#${token.slice(token.lastIndexOf('.') + 1)}`;

/** Journal key of a waiting attempt's heartbeat deadline (kept so a restart keeps the deadline, not a fresh one). */
const heartbeatKey = (path: string, attempt: number) => `hb:${path}@${attempt}`;

/** The HeartbeatSeconds clock of one waiting attempt: it times out at `until` unless a heartbeat moves it. */
interface HeartbeatRecord {
  /** The token it belongs to: a redriven attempt keeps its number but gets a new token and a fresh clock. */
  readonly token: string;
  readonly seconds: number;
  readonly until: number;
}

/*
 * Task tokens for `.waitForTaskToken` Tasks on the embedded engine: minted per attempt, kept in the journal
 * (so a run waiting for a person survives a restart), answered once by SendTaskSuccess/SendTaskFailure with
 * Step Functions' error names for tokens that are malformed, unknown, or closed.
 */

/**
 * A refused callback (SendTaskSuccess/Failure/Heartbeat), named as Step Functions names it; the API maps it
 * through {@link TaskCallbackError} like the AWS adapter's.
 */
export class CallbackError extends TaskCallbackError {
  constructor(reason: TaskCallbackError['reason'], message: string) {
    super(reason, message);
    this.name = reason;
  }
}

interface TokenParts {
  readonly executionId: string;
  readonly path: string;
  readonly attempt: number;
}

/** A token naming its entry and attempt, with 128 random bits so it cannot be guessed from them. */
export function mintToken(parts: TokenParts): string {
  const head = Buffer.from(JSON.stringify([parts.executionId, parts.path, parts.attempt])).toString(
    'base64url',
  );
  return `${head}.${randomBytes(16).toString('base64url')}`;
}

export function parseToken(token: string): TokenParts {
  const [head, nonce, extra] = token.split('.');
  if (!head || !nonce || extra !== undefined || token.length > 2048) {
    throw new CallbackError('InvalidToken', 'Invalid Token: malformed');
  }
  try {
    const [executionId, path, attempt] = JSON.parse(
      Buffer.from(head, 'base64url').toString('utf8'),
    ) as unknown[];
    if (typeof executionId === 'string' && typeof path === 'string' && typeof attempt === 'number') {
      return { executionId, path, attempt };
    }
  } catch {
    // falls through to the error below
  }
  throw new CallbackError('InvalidToken', 'Invalid Token: malformed');
}

interface Waiter {
  resolve(output: unknown): void;
  reject(error: Error): void;
  /** Re-arms the heartbeat timer to `until` (epoch ms), by default HeartbeatSeconds from now. */
  heartbeat(until?: number): void;
}

/** The answers waiting Tasks of this process receive, and the checks every answer passes first. */
export class TaskCallbackHub {
  readonly #store: Store;
  readonly #waiters = new Map<string, Waiter>();
  readonly #now: () => number;

  constructor(store: Store, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  async sendTaskSuccess(token: string, output: unknown): Promise<void> {
    const json = taskOutputJson(output ?? null);
    if (json === null) throw new CallbackError('InvalidOutput', 'Invalid Output: not JSON or over 256 KiB');
    await this.#answer(token, { ok: true, output: JSON.parse(json) as unknown });
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    await this.#answer(token, { ok: false, error: error || 'States.TaskFailed', cause: cause ?? '' });
  }

  /**
   * SendTaskHeartbeat: moves the attempt's HeartbeatSeconds deadline (kept in the journal, so a waiter in this
   * process or the next one sees it) and re-arms this process's timer. A Task without HeartbeatSeconds accepts
   * heartbeats and ignores them, as Step Functions does.
   */
  async sendTaskHeartbeat(token: string): Promise<void> {
    const parts = await this.#open(token);
    const key = heartbeatKey(parts.path, parts.attempt);
    const beat = (await this.#store.readJournalEntry(parts.executionId, key)) as HeartbeatRecord | undefined;
    if (beat?.token === token) {
      await this.#store.writeJournal(parts.executionId, key, {
        token,
        seconds: beat.seconds,
        until: this.#now() + beat.seconds * 1000,
      } satisfies HeartbeatRecord);
    }
    this.#waiters.get(token)?.heartbeat();
  }

  async #open(token: string): Promise<TokenParts> {
    const parts = parseToken(token);
    const record = (await this.#store.readJournalEntry(parts.executionId, JOURNAL_KEYS.step(parts.path))) as
      | StepRecord
      | undefined;
    if (!record || record.token !== token) throw new CallbackError('TaskDoesNotExist', 'Task does not exist');
    if (record.result || (record.deadlineAt !== undefined && record.deadlineAt <= this.#now())) {
      throw new CallbackError('TaskTimedOut', 'Task Timed Out: the task is already closed');
    }
    // Its heartbeat deadline passed while no process waited on it (the waiter would have closed the task).
    const beat = (await this.#store.readJournalEntry(
      parts.executionId,
      heartbeatKey(parts.path, parts.attempt),
    )) as HeartbeatRecord | undefined;
    if (beat?.token === token && beat.until <= this.#now()) {
      throw new CallbackError('TaskTimedOut', 'Task Timed Out: no heartbeat within HeartbeatSeconds');
    }
    return parts;
  }

  async #answer(token: string, answer: CallbackRecord): Promise<void> {
    const parts = await this.#open(token);
    const written = await this.#store.insertJournalOnce(
      parts.executionId,
      answerKey(parts.path, parts.attempt, token),
      answer,
    );
    if (!written) throw new CallbackError('TaskTimedOut', 'Task Timed Out: the task was already answered');
    const waiter = this.#waiters.get(token);
    if (waiter) settle(waiter, answer);
  }

  /**
   * Waits for the answer to `token`: resolves with SendTaskSuccess's output, rejects with SendTaskFailure's
   * error, `States.Timeout` at the deadline, `States.HeartbeatTimeout` when no heartbeat came in time, or the
   * signal's reason. An answer already in the journal (given while the process was down) settles at once.
   */
  wait(input: {
    executionId: string;
    path: string;
    attempt: number;
    token: string;
    deadlineAt: number | undefined;
    heartbeatSeconds: number | undefined;
    signal: AbortSignal;
  }): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      let deadline: NodeJS.Timeout | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      const cleanup = () => {
        clearTimeout(deadline);
        clearTimeout(heartbeat);
        input.signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(input.token);
      };
      const waiter: Waiter = {
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
        heartbeat: (until?: number) => {
          if (input.heartbeatSeconds === undefined) return;
          clearTimeout(heartbeat);
          const left = (until ?? this.#now() + input.heartbeatSeconds * 1000) - this.#now();
          heartbeat = setTimeout(
            () => waiter.reject(new StatesError('States.HeartbeatTimeout', 'No heartbeat in time')),
            Math.max(0, Math.min(left, 2_147_483_647)),
          );
        },
      };
      const onAbort = () => waiter.reject(input.signal.reason as Error);
      if (input.signal.aborted) return onAbort();
      input.signal.addEventListener('abort', onAbort, { once: true });
      if (input.deadlineAt !== undefined) {
        deadline = setTimeout(
          () => waiter.reject(new StatesError('States.Timeout', 'The task was not answered in time')),
          Math.max(0, Math.min(input.deadlineAt - this.#now(), 2_147_483_647)),
        );
      }
      waiter.heartbeat();
      this.#waiters.set(input.token, waiter);
      // An answer written before this wait began (or by another process) is in the journal already; so is
      // the heartbeat deadline of a wait that began before a restart, which this wait keeps (the first wait
      // of the attempt records it).
      const keep = async () => {
        const answer = await this.#store.readJournalEntry(
          input.executionId,
          answerKey(input.path, input.attempt, input.token),
        );
        if (this.#waiters.get(input.token) !== waiter) return;
        if (answer) return settle(waiter, answer as CallbackRecord);
        if (input.heartbeatSeconds === undefined) return;
        const key = heartbeatKey(input.path, input.attempt);
        const beat = (await this.#store.readJournalEntry(input.executionId, key)) as
          | HeartbeatRecord
          | undefined;
        if (beat?.token === input.token) {
          if (this.#waiters.get(input.token) === waiter) waiter.heartbeat(beat.until);
          return;
        }
        await this.#store.writeJournal(input.executionId, key, {
          token: input.token,
          seconds: input.heartbeatSeconds,
          until: this.#now() + input.heartbeatSeconds * 1000,
        } satisfies HeartbeatRecord);
      };
      keep().catch((err: unknown) => waiter.reject(err as Error));
    });
  }
}

function settle(waiter: Waiter, answer: CallbackRecord): void {
  if (answer.ok) waiter.resolve(answer.output);
  else waiter.reject(new StatesError(answer.error, answer.cause));
}
