import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'iovalkey';
import { openRedis, type RedisTarget } from '../adapters/redis-cache.ts';
import type { LockGrant, LockManager, ReleaseOutcome } from '../ports/lock.ts';

// Each script is one atomic step on the server. The lease is a hash {owner, token} with a PX expiry; the
// fencing counter is a separate key with no expiry, so tokens keep growing after a lease expires or is
// released. Both keys share a hash tag, so they live in one slot on a cluster (ElastiCache Serverless).

/** Grant when free (INCR the counter), extend when the same owner asks again, nil when another holds it. */
const ACQUIRE = `
local cur = redis.call('HGET', KEYS[1], 'owner')
if not cur then
  local token = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return token
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
end
return false`;

/** Extend only the holder's lease. */
const RENEW = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Compare-and-delete: 1 released, 0 nobody holds it, -1 another owner holds it (left untouched). */
const RELEASE = `
local cur = redis.call('HGET', KEYS[1], 'owner')
if not cur then return 0 end
if cur == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return -1`;

type LockClient = (Redis | Cluster) & {
  wfloLockAcquire(lease: string, fence: string, owner: string, ttlMs: number): Promise<number | null>;
  wfloLockRenew(lease: string, owner: string, ttlMs: number): Promise<number>;
  wfloLockRelease(lease: string, owner: string): Promise<number>;
};

/**
 * The keys of one lock. The name is hashed into the hash tag, so any name (braces included) maps to one slot
 * and no name can imitate another's keys.
 */
export function redisLockKeys(name: string): { lease: string; fence: string } {
  const tag = createHash('sha256').update(name).digest('hex').slice(0, 32);
  return { lease: `wflo:lock:{${tag}}`, fence: `wflo:lock:{${tag}}:fence` };
}

/**
 * Locks on Redis/Valkey (iovalkey): acquire, renew and release are each one Lua script (EVALSHA through
 * `defineCommand`), the fencing token an `INCR` on a per-lock counter. Unlike the response cache it never
 * fails open: an unreachable server fails the call, because a lock that is not known to be held is not held.
 */
export function redisLocks(target: RedisTarget, options: { commandTimeoutMs?: number } = {}): LockManager {
  let client: Promise<LockClient> | undefined;
  const get = () => {
    client ??= openRedis(target, { commandTimeoutMs: options.commandTimeoutMs ?? 2_000 }).then((c) => {
      c.on('error', () => {});
      c.defineCommand('wfloLockAcquire', { numberOfKeys: 2, lua: ACQUIRE });
      c.defineCommand('wfloLockRenew', { numberOfKeys: 1, lua: RENEW });
      c.defineCommand('wfloLockRelease', { numberOfKeys: 1, lua: RELEASE });
      return c as LockClient;
    });
    return client;
  };
  return {
    kind: 'redis',
    async tryAcquire(name, owner, ttlMs): Promise<LockGrant | undefined> {
      const { lease, fence } = redisLockKeys(name);
      const ttl = Math.max(1, Math.round(ttlMs));
      const token = await (await get()).wfloLockAcquire(lease, fence, owner, ttl);
      if (token === null || token === undefined) return undefined;
      return { name, owner, fencingToken: Number(token), expiresAt: Date.now() + ttl };
    },
    async renew(name, owner, ttlMs) {
      const { lease } = redisLockKeys(name);
      return (await (await get()).wfloLockRenew(lease, owner, Math.max(1, Math.round(ttlMs)))) === 1;
    },
    async release(name, owner): Promise<ReleaseOutcome> {
      const { lease } = redisLockKeys(name);
      const r = await (await get()).wfloLockRelease(lease, owner);
      return r === 1 ? 'released' : r === -1 ? 'held-by-other' : 'not-held';
    },
    async close() {
      if (client) (await client).disconnect();
    },
  };
}
