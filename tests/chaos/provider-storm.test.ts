import { afterEach, describe, expect, it } from 'vitest';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import { type DevProcess, devEnv, startDev, startRuns, waitTerminal } from './harness.ts';
import { postgresQuery } from './invariants.ts';
import { assessAndRecord, freshDatabase, freshDataDir } from './scenario.ts';

/**
 * A model provider in a storm: of every request, 20 % get 429, 10 % get 500 and 10 % are answered only
 * after the client's timeout (LLM_TIMEOUT_MS 5 s, answer at 7.5 s). Runs retry per their ASL and end
 * (succeeded, or failed once their retries are spent); no paid call may be missing or charged twice.
 */
// Well above the machine's own stalls under load (a reply the client's timer abandons while it is being
// delivered is paid and cannot be in the ledger), so only the scripted hangs time out.
const TIMEOUT_MS = 5_000;

let server: ChaosOpenAiServer | undefined;
const processes: DevProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  await server?.stop();
});

describe('Chaos: provider storm (20 % 429, 10 % 500, 10 % past the client timeout)', () => {
  it('every run ends with its ledger whole: each delivered call charged once, nothing held', async () => {
    // Prepare
    server = new ChaosOpenAiServer({
      delayMs: 200,
      faults: { rate429: 0.2, rate500: 0.1, rateHang: 0.1, hangMs: TIMEOUT_MS + 2_500 },
      seed: 429,
    });
    await server.start();
    const databaseUrl = await freshDatabase('storm');
    const dev = await startDev(
      devEnv({
        dataDir: freshDataDir('storm'),
        databaseUrl,
        openAiUrl: server.url,
        llmTimeoutMs: TIMEOUT_MS,
      }),
    );
    processes.push(dev);

    // Act
    const { acknowledged, refused } = await startRuns(dev.url, 50, 'storm');
    const outcome = await waitTerminal(
      dev.url,
      acknowledged.map((r) => r.executionId),
      {
        timeoutMs: 240_000,
        stallMs: 60_000,
        activity: () => server!.stats().received,
      },
    );
    await dev.stop();

    // Assess: the storm happened, and the store is whole
    const stats = server.stats();
    expect(refused).toEqual([]);
    expect(outcome.ended).toBe('all-terminal');
    expect(stats.faults['429'] + stats.faults['500'] + stats.faults.hang).toBeGreaterThan(10);
    const db = await postgresQuery(databaseUrl);
    try {
      await assessAndRecord('provider-storm', db.query, acknowledged, server, [
        `all terminal after ${outcome.ms} ms`,
      ]);
    } finally {
      await db.close();
    }
  });
});
