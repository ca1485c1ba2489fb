import { randomBytes } from 'node:crypto';
import { TaskCallbackError } from '#shared/errors';
import type { Store } from '#shared/ports/store';
import { StatesError } from './asl/errors.ts';
import { type CallbackRecord, JOURNAL_KEYS, type StepRecord } from './interpreter/journal.ts';

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
  heartbeat(): void;
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
    await this.#answer(token, { ok: true, output: output ?? null });
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<void> {
    await this.#answer(token, { ok: false, error: error || 'States.TaskFailed', cause: cause ?? '' });
  }

  async sendTaskHeartbeat(token: string): Promise<void> {
    await this.#open(token);
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
    return parts;
  }

  async #answer(token: string, answer: CallbackRecord): Promise<void> {
    const parts = await this.#open(token);
    const written = await this.#store.insertJournalOnce(
      parts.executionId,
      JOURNAL_KEYS.callback(parts.path, parts.attempt),
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
        heartbeat: () => {
          if (input.heartbeatSeconds === undefined) return;
          clearTimeout(heartbeat);
          heartbeat = setTimeout(
            () => waiter.reject(new StatesError('States.HeartbeatTimeout', 'No heartbeat in time')),
            input.heartbeatSeconds * 1000,
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
      // An answer written before this wait began (or by another process) is in the journal already.
      this.#store
        .readJournalEntry(input.executionId, JOURNAL_KEYS.callback(input.path, input.attempt))
        .then((answer) => {
          if (answer && this.#waiters.get(input.token) === waiter) settle(waiter, answer as CallbackRecord);
        })
        .catch((err: unknown) => waiter.reject(err as Error));
    });
  }
}

function settle(waiter: Waiter, answer: CallbackRecord): void {
  if (answer.ok) waiter.resolve(answer.output);
  else waiter.reject(new StatesError(answer.error, answer.cause));
}
