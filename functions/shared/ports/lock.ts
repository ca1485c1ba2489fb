/**
 * The lock port: a named lease with an owner, a TTL and a fencing token. Adapters: the store's `locks`
 * table (embedded default; one conditional statement per call) and Redis/Valkey (`REDIS_URL` locally,
 * ElastiCache Serverless on AWS; one Lua script per call).
 *
 * A grant is only a lease: after its TTL another owner may hold the lock while the first still runs. What
 * protects a resource is the fencing token: it grows strictly with every grant of the same name, and the
 * resource refuses a write carrying a token older than the newest it has seen (see `locks/fenced.ts`).
 */
export interface LockGrant {
  readonly name: string;
  /** Who holds it; renew and release must present the same owner. */
  readonly owner: string;
  /** Grows strictly with each grant of this name (never reused, also across releases). */
  readonly fencingToken: number;
  /** When the lease ends unless renewed (epoch milliseconds, the adapter's clock). */
  readonly expiresAt: number;
}

/** What a release found: the lock released, nobody holding it (expired or free), or another owner holding it. */
export type ReleaseOutcome = 'released' | 'not-held' | 'held-by-other';

export interface LockManager {
  readonly kind: 'store' | 'redis';
  /**
   * One attempt: grants the lock when it is free or expired (a new fencing token), or extends the lease of
   * the same owner (same token: a retried acquire by its holder is idempotent); undefined while another
   * owner holds it.
   */
  tryAcquire(name: string, owner: string, ttlMs: number): Promise<LockGrant | undefined>;
  /** Extends the lease by `ttlMs` from now, only for the current holder; false when it no longer holds it. */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Compare-and-delete: releases only when `owner` holds it; a lock held by another is left untouched. */
  release(name: string, owner: string): Promise<ReleaseOutcome>;
  close(): Promise<void>;
}

/**
 * A resource wflo owns that only the newest lock holder may write (the store's `fenced_documents`): a write
 * carries its fencing token, and one older than the newest the document has seen fails with
 * StaleFencingTokenError and changes nothing.
 */
export interface FencedDocuments {
  write(name: string, content: unknown, fencingToken: number): Promise<void>;
  read(name: string): Promise<{ content: unknown; fencingToken: number } | undefined>;
}
