import { afterEach, describe, expect, it } from 'vitest';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import { type DevProcess, devEnv, services, startDev, startRuns, until, waitTerminal } from './harness.ts';
import { postgresQuery } from './invariants.ts';
import { assessAndRecord, freshDatabase, freshDataDir } from './scenario.ts';

/**
 * `pg_ctl restart -m fast` of the PostgreSQL server `wflo dev` uses (every session cut with 57P01), once
 * while its pool is idle and once with 50 runs in flight: the process must stay up and every run end with
 * its steps, reservations and ledger whole; no error a run keeps may carry SQL text.
 */
let server: ChaosOpenAiServer | undefined;
const processes: DevProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  await server?.stop();
});

async function serve(name: string, delayMs: number) {
  server = new ChaosOpenAiServer({ delayMs });
  await server.start();
  const databaseUrl = await freshDatabase(name);
  const dev = await startDev(devEnv({ dataDir: freshDataDir(name), databaseUrl, openAiUrl: server.url }));
  processes.push(dev);
  return { dev, databaseUrl, server };
}

/** Errors kept on executions and steps that quote a statement (they are served by the API). */
async function errorsWithSql(query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) {
  const rows = await query(
    `select count(*)::int as n from (select error::text as e from executions union all select error::text from steps) x
      where e ~* '(insert into|select .* from|update .* set|delete from)'`,
  );
  return Number(rows[0]?.n ?? 0);
}

describe('Chaos: PostgreSQL restarted while wflo dev is idle', () => {
  it('keeps serving: the process stays up and the next runs succeed', async () => {
    // Prepare: runs done, the pool idle
    const { dev, databaseUrl, server } = await serve('pg-idle', 100);
    const before = await startRuns(dev.url, 3, 'pg-idle-a');
    await waitTerminal(
      dev.url,
      before.acknowledged.map((r) => r.executionId),
      { timeoutMs: 120_000 },
    );
    await new Promise((r) => setTimeout(r, 1_000));

    // Act
    await services('restart-postgres');
    await new Promise((r) => setTimeout(r, 2_000));
    const alive = dev.exitCode() === undefined;
    const after = await startRuns(dev.url, 3, 'pg-idle-b');
    const outcome = await waitTerminal(
      dev.url,
      after.acknowledged.map((r) => r.executionId),
      {
        timeoutMs: 120_000,
      },
    );
    await dev.stop();

    // Assess
    expect(alive, `wflo dev exited after the restart:\n${dev.lines.slice(-20).join('\n')}`).toBe(true);
    expect(after.refused).toEqual([]);
    expect(outcome.statuses).toEqual({ succeeded: 3 });
    const db = await postgresQuery(databaseUrl);
    try {
      expect(await errorsWithSql(db.query)).toBe(0);
      await assessAndRecord(
        'pg-restart-idle',
        db.query,
        [...before.acknowledged, ...after.acknowledged],
        server,
      );
    } finally {
      await db.close();
    }
  });
});

describe('Chaos: PostgreSQL restarted with 50 runs in flight', () => {
  it('every run ends, nothing held, every paid call in the ledger, no SQL in errors', async () => {
    // Prepare
    const { dev, databaseUrl, server } = await serve('pg-load', 1_000);
    const { acknowledged, refused } = await startRuns(dev.url, 50, 'pg-load');
    expect(refused).toEqual([]);
    await until('25 model calls answered or in flight', () => server.stats().received >= 25, 120_000);

    // Act
    await services('restart-postgres');
    const outcome = await waitTerminal(
      dev.url,
      acknowledged.map((r) => r.executionId),
      {
        timeoutMs: 180_000,
        stallMs: 60_000,
        activity: () => server.stats().received,
      },
    );
    const alive = dev.exitCode() === undefined;
    await dev.stop();

    // Assess
    expect(alive, `wflo dev exited after the restart:\n${dev.lines.slice(-20).join('\n')}`).toBe(true);
    const db = await postgresQuery(databaseUrl);
    try {
      expect.soft(await errorsWithSql(db.query), 'errors quoting SQL').toBe(0);
      await assessAndRecord('pg-restart-load', db.query, acknowledged, server, [
        `after the restart: ${outcome.ended} in ${outcome.ms} ms`,
      ]);
    } finally {
      await db.close();
    }
  });
});
