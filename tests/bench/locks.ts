/**
 * locks: the Redis/Valkey lock adapter against the raw commands it stands for, on a real server on loopback.
 * Each iteration times, on the same connection kind and interleaved so both see the same server and machine
 * load: wflo's acquire (one EVALSHA: owner check, INCR of the fencing counter, HSET, PEXPIRE) and release (one
 * EVALSHA: compare-and-delete), next to a raw `SET key owner NX PX ttl` and `DEL key` without fencing.
 * Target: acquire p99 ≤ 2× the raw SET NX PX p99.
 *
 * Then the approval round trip embedded (request → decision → workflow continues), next to the engine's raw
 * resume and a run with a Pass instead of the approval: see approval-round-trip.ts.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'iovalkey';
import { redisLocks } from '#shared/locks/redis-locks';
import { measureApprovalRoundTrip } from './approval-round-trip.ts';
import { type BenchResult, percentile, target } from './lib.ts';
import { serviceUrls } from './services.ts';

const N = 5_000;
const WARMUP = 500;
/** Approval round trips of each kind (approval via the API, raw engine resume, Pass), interleaved. */
const APPROVAL_ROUND_TRIPS = 50;

/** Runs the lock benchmark (REDIS_URL, or the services script's Redis). */
export async function run(): Promise<BenchResult> {
  const redisUrl = process.env.REDIS_URL ?? serviceUrls().redisUrl;
  const raw = new Redis(redisUrl);
  const locks = redisLocks({ kind: 'url', url: redisUrl });
  const name = `bench:${randomUUID()}`;
  const rawKey = `wflo:bench:raw:${randomUUID()}`;
  const acquire: number[] = [];
  const release: number[] = [];
  const rawSet: number[] = [];
  const rawDel: number[] = [];
  let lastToken = 0;
  let monotonic = true;
  for (let i = 0; i < WARMUP + N; i++) {
    const owner = `o${i}`;
    const t0 = performance.now();
    const grant = await locks.tryAcquire(name, owner, 10_000);
    const t1 = performance.now();
    const released = await locks.release(name, owner);
    const t2 = performance.now();
    const set = await raw.set(rawKey, owner, 'PX', 10_000, 'NX');
    const t3 = performance.now();
    await raw.del(rawKey);
    const t4 = performance.now();
    if (!grant || released !== 'released' || set !== 'OK')
      throw new Error(`iteration ${i} did not get the lock`);
    if (grant.fencingToken <= lastToken) monotonic = false;
    lastToken = grant.fencingToken;
    if (i < WARMUP) continue;
    acquire.push(t1 - t0);
    release.push(t2 - t1);
    rawSet.push(t3 - t2);
    rawDel.push(t4 - t3);
  }
  raw.disconnect();
  await locks.close();
  const approvals = await measureApprovalRoundTrip(APPROVAL_ROUND_TRIPS);
  const pair = acquire.map((a, i) => a + release[i]!);
  const rawPair = rawSet.map((s, i) => s + rawDel[i]!);
  const ms = (v: number) => Math.round(v * 1000) / 1000;
  return {
    name: 'locks',
    figures: {
      iterations: N,
      'acquire p50 (ms)': ms(percentile(acquire, 50)),
      'acquire p99 (ms)': ms(percentile(acquire, 99)),
      'raw SET NX PX p50 (ms)': ms(percentile(rawSet, 50)),
      'raw SET NX PX p99 (ms)': ms(percentile(rawSet, 99)),
      'release p50 (ms)': ms(percentile(release, 50)),
      'release p99 (ms)': ms(percentile(release, 99)),
      'raw DEL p99 (ms)': ms(percentile(rawDel, 99)),
      'acquire+release p50 (ms)': ms(percentile(pair, 50)),
      'acquire+release p99 (ms)': ms(percentile(pair, 99)),
      'raw SET+DEL p50 (ms)': ms(percentile(rawPair, 50)),
      'raw SET+DEL p99 (ms)': ms(percentile(rawPair, 99)),
      'fencing tokens strictly increasing (1 = yes)': monotonic ? 1 : 0,
      'approval round trips': approvals.iterations,
      ...approvals.figures,
    },
    targets: {
      'acquire p99 / raw SET NX PX p99': target(percentile(acquire, 99) / percentile(rawSet, 99), 2),
      'acquire+release p99 / raw SET+DEL p99': target(percentile(pair, 99) / percentile(rawPair, 99), 2),
    },
    notes: [
      'sequential, one connection each, interleaved per iteration; loopback Redis on a shared 2-core machine',
      'approval round trip: one run at a time on file-backed PGlite; "decision → run ended" is from the POST leaving to the run\'s end being recorded; "raw resume" answers the same token through the engine directly (no HTTP, no approval checks or record); the engine resumes a waiting Task by in-process notification, no polling',
    ],
  };
}
