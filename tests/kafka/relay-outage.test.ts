import { describe, expect, it } from 'vitest';
import { startLocalEventRelay } from '../../infra/local/engine/event-relay.ts';
import { BROKERS, kafkaScript, ofExecutions, relayFixture, startConsumer, waitFor } from './kafka-helpers.ts';

/*
 * The outbox relay against a real Apache Kafka broker (tests/integration/kafka.sh, KRaft on loopback) and
 * the embedded runtime running real workflows. Every check reads back what a consumer received.
 */

const fx = relayFixture();

describe.skipIf(!BROKERS)('outbox relay → Kafka', () => {
  it('a broker down for 10 s loses no event and does not slow the steps', async () => {
    // GIVEN the local relay on, and how long a run takes with the broker up
    const errors: string[] = [];
    fx.relay = await startLocalEventRelay(fx.local.runtime.config, fx.local.runtime.store, {
      maxBackoffMs: 1_000,
      onError: (e) => errors.push((e as Error).message),
    });
    const timeRuns = async (n: number) => {
      const t0 = Date.now();
      const ids = await fx.startRuns(n);
      await fx.local.orchestrator.drain();
      return { ids, ms: Date.now() - t0 };
    };
    const baseline = await timeRuns(10);

    // WHEN the broker stops, runs go on for 10 s, then the broker comes back
    await kafkaScript('stop');
    const downAt = Date.now();
    const during: { ids: string[]; ms: number }[] = [];
    while (Date.now() - downAt < 10_000) during.push(await timeRuns(10));
    expect(await fx.unpublished()).toBe(1);
    const upAt = Date.now();
    await kafkaScript('start');
    const restartedMs = Date.now() - upAt;
    const consumer = await startConsumer();
    const ids = [...baseline.ids, ...during.flatMap((d) => d.ids)];
    const rows = await fx.outboxOf(ids);
    await waitFor(
      async () => (await fx.unpublished()) === 0,
      'the relay to catch up after the outage',
      120_000,
    );
    const caughtUpMs = Date.now() - upAt;
    await waitFor(
      () => new Set(ofExecutions(consumer.received, ids).map((r) => r.message.eventId)).size >= rows.length,
      'every event delivered after the outage',
      120_000,
    );
    await consumer.close();

    // THEN nothing was lost, and a batch of runs during the outage took at most 2× + 500 ms its time before
    expect(new Set(ofExecutions(consumer.received, ids).map((r) => r.message.eventId))).toEqual(
      new Set(rows.map((r) => r.eventId)),
    );
    const slowest = Math.max(...during.map((d) => d.ms));
    console.log(
      `runs ×10: ${baseline.ms} ms with the broker up, at most ${slowest} ms with it down; broker restart ${restartedMs} ms, outbox drained ${caughtUpMs} ms after it`,
    );
    expect(slowest).toBeLessThanOrEqual(baseline.ms * 2 + 500);
    // … and the relay saw the outage (its batches failed and were retried, not silently dropped)
    console.log(`relay errors during the outage: ${errors.length} (first: ${errors[0]})`);
    expect(fx.relay?.relay.stats.failures).toBeGreaterThan(0);
  }, 300_000);
});
