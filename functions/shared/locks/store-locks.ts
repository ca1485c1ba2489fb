import { sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { locks } from '../db/schema.ts';
import type { LockGrant, LockManager, ReleaseOutcome } from '../ports/lock.ts';
import { rowsOf } from '../store/statements.ts';

const toMs = (v: unknown) => (v instanceof Date ? v.getTime() : new Date(String(v)).getTime());

/**
 * Locks in the store's `locks` table (the embedded default; PostgreSQL or Aurora too). Each call is one
 * statement, atomic on its own: the grant is an upsert whose update applies only when the row is free or
 * expired (or already this owner's), and bumps the row's fencing counter in the same statement. PostgreSQL
 * re-checks the condition on the latest row version under the row lock, so two contenders never both win.
 * The database's clock decides expiry, so the callers' clocks do not matter.
 */
export function storeLocks(db: WfloDb): LockManager {
  return {
    kind: 'store',
    async tryAcquire(name, owner, ttlMs): Promise<LockGrant | undefined> {
      const ttl = `${Math.max(1, Math.round(ttlMs))} milliseconds`;
      const result = await db.execute(sql`
        insert into ${locks} as l (name, owner, fencing_token, expires_at)
        values (${name}, ${owner}, 1, now() + ${ttl}::interval)
        on conflict (name) do update set
          owner = excluded.owner,
          fencing_token = case when l.owner = excluded.owner and l.expires_at > now()
            then l.fencing_token else l.fencing_token + 1 end,
          expires_at = excluded.expires_at
        where l.owner is null or l.expires_at <= now() or l.owner = excluded.owner
        returning fencing_token, expires_at`);
      const [row] = rowsOf<{ fencing_token: string | number; expires_at: unknown }>(result);
      if (!row) return undefined;
      return { name, owner, fencingToken: Number(row.fencing_token), expiresAt: toMs(row.expires_at) };
    },
    async renew(name, owner, ttlMs) {
      const ttl = `${Math.max(1, Math.round(ttlMs))} milliseconds`;
      const result = await db.execute(sql`
        update ${locks} set expires_at = now() + ${ttl}::interval
        where name = ${name} and owner = ${owner} and expires_at > now()
        returning name`);
      return rowsOf(result).length === 1;
    },
    async release(name, owner): Promise<ReleaseOutcome> {
      // One statement: the conditional release, and (for the answer only) who holds it otherwise. The row
      // stays, with its counter, so the next grant's token is still larger.
      const result = await db.execute(sql`
        with released as (
          update ${locks} set owner = null, expires_at = now()
          where name = ${name} and owner = ${owner} and expires_at > now()
          returning name)
        select (select count(*) from released)::int as released,
          (select owner from ${locks} where name = ${name} and expires_at > now()) as holder`);
      const [row] = rowsOf<{ released: number; holder: string | null }>(result);
      if (row && Number(row.released) === 1) return 'released';
      return row?.holder && row.holder !== owner ? 'held-by-other' : 'not-held';
    },
    close: async () => {},
  };
}
