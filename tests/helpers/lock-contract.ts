import { expect, it } from 'vitest';
import type { WfloDb } from '#shared/db/connection';
import { LockNotHeldError, LockTimeoutError, StaleFencingTokenError, ValidationError } from '#shared/errors';
import { readFencedDocument, writeFencedDocument } from '#shared/locks/fenced';
import { acquireLock, MAX_LOCK_NAME_LENGTH, releaseLock, withLock } from '#shared/locks/locks';
import type { LockManager } from '#shared/ports/lock';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The lock port's contract, run against each adapter (the store's table here; real Redis in the integration
 * suite). `parts()` is read inside each test, after the suite's hooks opened the adapter and the database the
 * fenced document lives in.
 */
export function lockContract(parts: () => { locks: LockManager; db: WfloDb }, prefix: string) {
  let n = 0;
  const fresh = (what: string) => `${prefix}:${what}:${Date.now()}:${n++}`;

  it('grants a free lock, refuses a second owner, and grants again after release with a larger token', async () => {
    // Prepare
    const { locks } = parts();
    const name = fresh('basic');
    // Act
    const a = await locks.tryAcquire(name, 'a', 5_000);
    const refused = await locks.tryAcquire(name, 'b', 5_000);
    const released = await locks.release(name, 'a');
    const b = await locks.tryAcquire(name, 'b', 5_000);
    // Assess
    expect(a?.fencingToken).toBeGreaterThan(0);
    expect(refused).toBeUndefined();
    expect(released).toBe('released');
    expect(b?.fencingToken).toBeGreaterThan(a?.fencingToken ?? Number.POSITIVE_INFINITY);
  });

  it('answers a retried acquire by the same owner with the same token, and renews only for the holder', async () => {
    const { locks } = parts();
    const name = fresh('reentrant');
    const first = await locks.tryAcquire(name, 'a', 300);
    const again = await locks.tryAcquire(name, 'a', 300);
    expect(again?.fencingToken).toBe(first?.fencingToken);
    expect(await locks.renew(name, 'b', 5_000)).toBe(false);
    expect(await locks.renew(name, 'a', 5_000)).toBe(true);
    // Renewed past the first TTL: still held.
    await sleep(450);
    expect(await locks.tryAcquire(name, 'b', 5_000)).toBeUndefined();
  });

  it('refuses a release with the wrong owner and leaves the lock untouched', async () => {
    const { locks } = parts();
    const name = fresh('wrong-owner');
    const held = await acquireLock(locks, name, { owner: 'holder', ttlMs: 5_000 });
    await expect(releaseLock(locks, name, 'intruder')).rejects.toBeInstanceOf(LockNotHeldError);
    expect(await locks.tryAcquire(name, 'other', 5_000)).toBeUndefined();
    expect(await releaseLock(locks, name, held.owner)).toBe(true);
  });

  it('refuses a name over the length limit or with control characters before touching the adapter', async () => {
    const { locks } = parts();
    await expect(acquireLock(locks, 'x'.repeat(MAX_LOCK_NAME_LENGTH + 1), { ttlMs: 1_000 })).rejects.toThrow(
      ValidationError,
    );
    await expect(acquireLock(locks, 'bad\nname', { ttlMs: 1_000 })).rejects.toThrow(/control character/);
  });

  it('frees a crashed holder by TTL; the stale holder that wakes up is refused by its old token', async () => {
    // Prepare: A holds the lock and writes, then "crashes" (stops renewing) past its TTL.
    const { locks, db } = parts();
    const name = fresh('crash');
    const doc = fresh('doc');
    const a = await acquireLock(locks, name, { owner: 'a', ttlMs: 200 });
    await writeFencedDocument(db, doc, { by: 'a' }, a.fencingToken);
    await sleep(350);
    // Act: B gets the lock (the TTL freed it) and writes; A wakes up and writes with its old token.
    const b = await acquireLock(locks, name, { owner: 'b', ttlMs: 5_000, waitMs: 1_000 });
    await writeFencedDocument(db, doc, { by: 'b' }, b.fencingToken);
    const stale = writeFencedDocument(db, doc, { by: 'a, late' }, a.fencingToken);
    // Assess
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    await expect(stale).rejects.toBeInstanceOf(StaleFencingTokenError);
    expect(await readFencedDocument(db, doc)).toEqual({ content: { by: 'b' }, fencingToken: b.fencingToken });
    // A's late release does not free B's lock.
    await expect(releaseLock(locks, name, 'a')).rejects.toBeInstanceOf(LockNotHeldError);
    expect(await locks.tryAcquire(name, 'c', 5_000)).toBeUndefined();
  });

  it('50 concurrent contenders: never two holders at once, tokens strictly increasing in grant order', async () => {
    // Prepare
    const { locks } = parts();
    const name = fresh('contention');
    const log: { owner: number; token: number; start: number; end: number }[] = [];
    // Act
    await Promise.all(
      Array.from({ length: 50 }, (_, owner) =>
        withLock(locks, name, { owner: `c${owner}`, ttlMs: 10_000, waitMs: 60_000 }, async (held) => {
          const start = performance.now();
          await sleep(1);
          log.push({ owner, token: held.grant.fencingToken, start, end: performance.now() });
        }),
      ),
    );
    // Assess: every contender held it once; intervals in grant order never overlap; tokens grow.
    expect(log).toHaveLength(50);
    const byStart = [...log].sort((x, y) => x.start - y.start);
    for (let i = 1; i < byStart.length; i++) {
      expect(byStart[i]!.start).toBeGreaterThanOrEqual(byStart[i - 1]!.end);
      expect(byStart[i]!.token).toBeGreaterThan(byStart[i - 1]!.token);
    }
  });

  it('a contender that cannot get the lock within its wait bound gets LockTimeoutError at the bound', async () => {
    // Prepare: the lock is held for longer than anyone waits.
    const { locks } = parts();
    const name = fresh('bounded');
    await acquireLock(locks, name, { owner: 'hog', ttlMs: 10_000 });
    // Act
    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const t0 = performance.now();
        const outcome = await acquireLock(locks, name, { owner: `w${i}`, ttlMs: 1_000, waitMs: 300 }).then(
          () => 'acquired',
          (e: unknown) => e,
        );
        return { outcome, waited: performance.now() - t0 };
      }),
    );
    // Assess: each gave up with the clear error, not before its bound and not long after.
    for (const r of results) {
      expect(r.outcome).toBeInstanceOf(LockTimeoutError);
      expect((r.outcome as Error).message).toMatch(/gave up after waiting 300 ms/);
      expect(r.waited).toBeGreaterThanOrEqual(295);
      expect(r.waited).toBeLessThan(3_000);
    }
  });
}
