import { describe, expect, it } from 'vitest';
import { kafkaPublisher, type Publisher } from '#shared/events/kafka-client';
import { OutboxRelay } from '#shared/events/relay';
import {
  BROKERS,
  kafkaSettings,
  ofExecutions,
  relayFixture,
  startConsumer,
  waitFor,
} from './kafka-helpers.ts';

/*
 * The outbox relay against a real Apache Kafka broker (tests/integration/kafka.sh, KRaft on loopback) and
 * the embedded runtime running real workflows. Every check reads back what a consumer received.
 */

const fx = relayFixture();

describe.skipIf(!BROKERS)('outbox relay → Kafka', () => {
  it('a relay that crashes mid-batch loses nothing: the next one resends, duplicates carry the same event id', async () => {
    // GIVEN runs whose events are in the outbox, unrelayed
    const ids = await fx.startRuns(20);
    await fx.local.orchestrator.drain();
    const rows = await fx.outboxOf(ids);
    const consumer = await startConsumer();
    // … and a relay whose process "dies" in its third batch, after half of that batch reached Kafka and
    // before anything of it was marked (the worst place: published but not recorded as such)
    const real = kafkaPublisher(kafkaSettings());
    let batches = 0;
    const crashing: Publisher = {
      async publish(messages) {
        batches++;
        if (batches === 3) {
          await real.publish(messages.slice(0, Math.ceil(messages.length / 2)));
          throw new Error('relay process killed mid-batch');
        }
        await real.publish(messages);
      },
      close: () => real.close(),
    };
    const first = new OutboxRelay(fx.local.runtime.store, crashing, {
      batchSize: 40,
      backoffMs: 60_000,
    }).start();
    await waitFor(() => first.stats.failures > 0, 'the crash');
    await first.stop();
    expect(await fx.unpublished()).toBe(1);

    // WHEN a new relay starts (a fresh process: a fresh producer)
    const second = new OutboxRelay(fx.local.runtime.store, kafkaPublisher(kafkaSettings())).start();
    await waitFor(async () => (await fx.unpublished()) === 0, 'the second relay to drain the outbox');
    await second.stop();
    await waitFor(
      () => new Set(ofExecutions(consumer.received, ids).map((r) => r.message.eventId)).size >= rows.length,
      'every event delivered',
    );
    await new Promise((r) => setTimeout(r, 500));
    const got = ofExecutions(consumer.received, ids);
    await consumer.close();

    // THEN every event arrived, some twice, and a duplicate is the same event (id, sequence, payload)
    expect(new Set(got.map((r) => r.message.eventId))).toEqual(new Set(rows.map((r) => r.eventId)));
    expect(got.length).toBeGreaterThan(rows.length);
    const first_ = new Map<string, string>();
    for (const r of got) {
      const seen = first_.get(r.message.eventId);
      if (seen) expect(JSON.stringify(r.message)).toBe(seen);
      else first_.set(r.message.eventId, JSON.stringify(r.message));
    }
  });
});
