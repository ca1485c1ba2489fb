import { afterEach, describe, expect, it } from 'vitest';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import { type DevProcess, devEnv, startDev, startRuns, until, waitTerminal } from './harness.ts';
import { pgliteQuery, postgresQuery } from './invariants.ts';
import { assessAndRecord, freshDatabase, freshDataDir } from './scenario.ts';

/**
 * kill -9 of `wflo dev` with 50 agent-loop runs in flight (each waiting on its Plan call), then a restart on
 * the same store: every acknowledged run must end, with its steps, reservations and ledger whole. The wait
 * for recovery is bounded (WFLO_CHAOS_RECOVERY_MS, 120 s) and ends early when nothing moves for 30 s.
 */
const RUNS = 50;
const RECOVERY_MS = Number(process.env.WFLO_CHAOS_RECOVERY_MS ?? 120_000);

let server: ChaosOpenAiServer | undefined;
const processes: DevProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  await server?.stop();
});

async function killAndRestart(scenario: string, store: { dataDir: string; databaseUrl?: string }) {
  // Prepare: every run's Plan call held by the model server until the kill
  server = new ChaosOpenAiServer({ delayMs: 600_000 });
  await server.start();
  // --verbose: the restart's start-up breakdown (crash recovery included) goes into the scenario's notes.
  const env = devEnv({ ...store, openAiUrl: server.url, extra: { WFLO_VERBOSE: '1' } });
  const t0 = performance.now();
  const since = () => `${Math.round((performance.now() - t0) / 1000)} s`;
  const first = await startDev(env);
  console.log(`${scenario}: serving after ${since()}`);
  processes.push(first);
  const { acknowledged, refused } = await startRuns(first.url, RUNS, scenario);
  expect(refused, 'every run is acknowledged').toEqual([]);
  await until(`${RUNS} model calls in flight`, () => server!.stats().inFlight >= RUNS, 120_000);

  // Act: kill -9, then the model answers quickly and the same store is served again
  console.log(`${scenario}: ${RUNS} model calls in flight after ${since()}; kill -9`);
  await first.kill9();
  const killedAt = Math.round(performance.now() - t0);
  server.delayMs = 200;
  const second = await startDev(env);
  processes.push(second);
  const restartMs = Math.round(performance.now() - t0) - killedAt;
  const recovery =
    second.lines.find((l) => l.includes('store crash recovery')) ?? 'no crash recovery reported';
  console.log(
    `${scenario}: serving again after ${since()} (${restartMs} ms after the restart; ${recovery.trim()})`,
  );
  const outcome = await waitTerminal(
    second.url,
    acknowledged.map((r) => r.executionId),
    {
      timeoutMs: RECOVERY_MS,
      stallMs: 30_000,
      activity: () => server!.stats().received,
    },
  );
  await second.stop();

  // Assess: with SQL on the store the processes left
  const db = store.databaseUrl ? await postgresQuery(store.databaseUrl) : await pgliteQuery(store.dataDir);
  try {
    await assessAndRecord(scenario, db.query, acknowledged, server, [
      `restart to serving: ${restartMs} ms; ${recovery.trim()}`,
      `after the restart: ${outcome.ended} in ${outcome.ms} ms (${outcome.terminal}/${acknowledged.length} terminal)`,
    ]);
  } finally {
    await db.close();
  }
}

describe('Chaos: kill -9 of wflo dev with 50 runs in flight, on PGlite', () => {
  it('resumes every run after the restart, nothing lost, held or charged twice', async () => {
    await killAndRestart('kill9-pglite', { dataDir: freshDataDir('kill9') });
  });
});

describe('Chaos: kill -9 of wflo dev with 50 runs in flight, on PostgreSQL', () => {
  it('resumes every run after the restart, nothing lost, held or charged twice', async () => {
    await killAndRestart('kill9-postgres', {
      dataDir: freshDataDir('kill9-pg'),
      databaseUrl: await freshDatabase('kill9'),
    });
  });
});
