import { randomUUID } from 'node:crypto';
import { LockNotHeldError, LockTimeoutError, ValidationError } from '../errors.ts';
import type { LockGrant, LockManager } from '../ports/lock.ts';

/** Longest lock name accepted, in characters. */
export const MAX_LOCK_NAME_LENGTH = 200;
/** Lease bounds (milliseconds): at least 100 ms, at most one day. */
export const MIN_LOCK_TTL_MS = 100;
export const MAX_LOCK_TTL_MS = 86_400_000;

// C0 and C1 control characters, DEL included.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Throws {@link ValidationError} (field `name`) for an empty name, one over the length limit, or control characters. */
export function validateLockName(name: string): void {
  if (name.length === 0) throw new ValidationError('lock name is empty', ['name: must not be empty']);
  if (name.length > MAX_LOCK_NAME_LENGTH) {
    throw new ValidationError(`lock name is ${name.length} characters long`, [
      `name: must be at most ${MAX_LOCK_NAME_LENGTH} characters`,
    ]);
  }
  if (CONTROL.test(name)) {
    throw new ValidationError('lock name contains a control character', [
      'name: must not contain control characters',
    ]);
  }
}

export interface AcquireOptions {
  /** The holder's identity; renew and release must present it. @default a random UUID */
  readonly owner?: string;
  /** Lease length. */
  readonly ttlMs: number;
  /** How long to keep trying while another owner holds it; 0 tries once. @default 0 */
  readonly waitMs?: number;
  /** Stops the wait early (the invocation's deadline). */
  readonly signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Acquires `name`, retrying while another owner holds it for at most `waitMs` (capped, jittered backoff from
 * 5 ms to 100 ms between attempts, and one last attempt at the bound), then throws {@link LockTimeoutError}
 * naming the lock and the wait. Never waits past its bound, so no caller starves silently.
 */
export async function acquireLock(
  locks: LockManager,
  name: string,
  options: AcquireOptions,
): Promise<LockGrant> {
  validateLockName(name);
  if (!(options.ttlMs >= MIN_LOCK_TTL_MS && options.ttlMs <= MAX_LOCK_TTL_MS)) {
    throw new ValidationError(`lock ttl ${options.ttlMs} ms is out of range`, [
      `ttl: must be between ${MIN_LOCK_TTL_MS} and ${MAX_LOCK_TTL_MS} ms`,
    ]);
  }
  const owner = options.owner ?? randomUUID();
  const waitMs = Math.max(0, options.waitMs ?? 0);
  const deadline = performance.now() + waitMs;
  let backoff = 5;
  for (;;) {
    const grant = await locks.tryAcquire(name, owner, options.ttlMs);
    if (grant) return grant;
    const left = deadline - performance.now();
    if (left <= 0 || options.signal?.aborted) {
      throw new LockTimeoutError(
        `lock '${name}' is held by another owner; gave up after waiting ${waitMs} ms`,
      );
    }
    await sleep(Math.min(left, backoff * (0.5 + Math.random())), options.signal);
    backoff = Math.min(100, backoff * 2);
  }
}

/**
 * Releases a grant. A lock that expired (nobody holds it) is not an error: the work already lost its lease
 * and fencing refuses its late writes. A lock another owner holds throws {@link LockNotHeldError} and is
 * left untouched.
 */
export async function releaseLock(locks: LockManager, name: string, owner: string): Promise<boolean> {
  validateLockName(name);
  const outcome = await locks.release(name, owner);
  if (outcome === 'held-by-other') {
    throw new LockNotHeldError(`lock '${name}' is held by another owner; it was not released`);
  }
  return outcome === 'released';
}

/** What {@link withLock}'s function gets: the grant and whether the lease is still known to be held. */
export interface HeldLock {
  readonly grant: LockGrant;
  /** Aborted when a renewal finds the lock no longer held (or fails): stop, the fencing token is stale. */
  readonly lost: AbortSignal;
}

/**
 * Runs `fn` while holding `name`: acquires (bounded wait), renews the lease every third of its TTL while
 * `fn` runs, and releases afterwards, also when `fn` throws. A renewal that finds the lock gone aborts
 * `held.lost`; pass `held.grant.fencingToken` with every write to a protected resource.
 * @example await withLock(locks, 'doc:readme', { ttlMs: 10_000, waitMs: 5_000 }, (held) => writeFencedDocument(db, 'readme', text, held.grant.fencingToken));
 */
export async function withLock<T>(
  locks: LockManager,
  name: string,
  options: AcquireOptions,
  fn: (held: HeldLock) => Promise<T>,
): Promise<T> {
  const grant = await acquireLock(locks, name, options);
  const lost = new AbortController();
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewing = locks.renew(name, grant.owner, options.ttlMs).then(
        (held) => {
          if (!held) lost.abort(new LockNotHeldError(`lock '${name}' expired before it was renewed`));
        },
        (error: unknown) => lost.abort(error),
      );
    },
    Math.max(10, Math.floor(options.ttlMs / 3)),
  );
  timer.unref();
  try {
    return await fn({ grant, lost: lost.signal });
  } finally {
    clearInterval(timer);
    await renewing;
    await locks.release(name, grant.owner);
  }
}
