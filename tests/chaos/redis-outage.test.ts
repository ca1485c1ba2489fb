import { afterEach, describe, expect, it } from 'vitest';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import {
  type AcknowledgedRun,
  chaosServiceUrls,
  type DevProcess,
  devEnv,
  services,
  startDev,
  startRuns,
  waitTerminal,
} from './harness.ts';
import { postgresQuery } from './invariants.ts';
import { assessAndRecord, freshDatabase, freshDataDir } from './scenario.ts';

/**
 * Redis (the response cache) stopped for 10 s while runs keep arriving: the cache fails open (every run
 * ends as without it) and says so in a few warnings, not one per request.
 */
const OUTAGE_MS = 10_000;
/** The outage is reported when it starts and then at most once per 10 s (functions/shared/wiring/llm-parts.ts). */
const WARNING_INTERVAL_MS = 10_000;
/**
 * The outage (10 s) and the calls timing out while the loaded machine catches up after it: a handful of
 * lines at most, where one per failed call would be dozens.
 */
const MAX_WARNINGS = 6;

let server: ChaosOpenAiServer | undefined;
const processes: DevProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  await server?.stop();
  await services('start-redis');
});

describe('Chaos: Redis stopped for 10 s under load', () => {
  it('fails open: every run succeeds, the outage is warned about a few times, not per request', async () => {
    // Prepare: runs arriving 4 per second for 16 s, the cache on the chaos Redis
    server = new ChaosOpenAiServer({ delayMs: 300 });
    await server.start();
    const { redisUrl } = await chaosServiceUrls();
    const databaseUrl = await freshDatabase('redis');
    const dev = await startDev(
      devEnv({ dataDir: freshDataDir('redis'), databaseUrl, redisUrl, openAiUrl: server.url }),
    );
    processes.push(dev);
    const acknowledged: AcknowledgedRun[] = [];
    const refused: string[] = [];
    const load = (async () => {
      for (let i = 0; i < 16; i++) {
        const batch = startRuns(dev.url, 4, `redis-${i}`);
        await new Promise((r) => setTimeout(r, 1_000));
        const started = await batch;
        acknowledged.push(...started.acknowledged);
        refused.push(...started.refused);
      }
    })();

    // Act: Redis gone from t = 3 s to t = 13 s
    await new Promise((r) => setTimeout(r, 3_000));
    await services('stop-redis');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await services('start-redis');
    await load;
    const outcome = await waitTerminal(
      dev.url,
      acknowledged.map((r) => r.executionId),
      {
        timeoutMs: 120_000,
        stallMs: 60_000,
        activity: () => server!.stats().received,
      },
    );
    await dev.stop();

    // Assess: the store first (recorded for the table), then the runs and the warnings
    const warnings = dev.lines
      .filter((l) => l.includes('response cache unavailable'))
      .map((l) => JSON.parse(l) as { timestamp: string; similarSincePrevious?: number });
    const failures = warnings.reduce((n, w) => n + 1 + (w.similarSincePrevious ?? 0), 0);
    const db = await postgresQuery(databaseUrl);
    try {
      await assessAndRecord('redis-outage-10s', db.query, acknowledged, server, [
        `${warnings.length} cache warning line(s) for ${failures} failed cache calls`,
      ]);
    } finally {
      await db.close();
    }
    expect(refused).toEqual([]);
    expect(outcome.statuses).toEqual({ succeeded: acknowledged.length });
    expect(warnings.length, 'the outage is reported').toBeGreaterThanOrEqual(1);
    const gaps = warnings
      .slice(1)
      .map((w, i) => Date.parse(w.timestamp) - Date.parse(warnings[i]!.timestamp));
    expect(Math.min(...gaps, WARNING_INTERVAL_MS), 'ms between warnings').toBeGreaterThanOrEqual(
      WARNING_INTERVAL_MS - 100,
    );
    expect(warnings.length).toBeLessThanOrEqual(MAX_WARNINGS);
  });
});
