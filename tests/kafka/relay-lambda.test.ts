import { describe, expect, it } from 'vitest';
import { ensureTopics } from '#shared/events/kafka-admin';
import { kafkaPublisher } from '#shared/events/kafka-client';
import { runRelay } from '#shared/events/relay-run';
import {
  BROKERS,
  kafkaSettings,
  ofExecutions,
  type Received,
  relayFixture,
  startConsumer,
  waitFor,
} from './kafka-helpers.ts';

/*
 * The relay Lambda's domain function (functions/shared/events/relay-run.ts, what functions/events/outbox-relay.ts
 * runs per invocation) against the real local broker: plaintext instead of MSK IAM, the embedded store instead
 * of the Data API, the same relay code in between.
 */

const fx = relayFixture();

describe.skipIf(!BROKERS)('relay Lambda run → Kafka', () => {
  it('publishes every event of 20 runs in order per execution, marks them, and reports no lag', async () => {
    // GIVEN the topics (the custom resource's job on AWS), 20 finished runs, and a consumer on every topic
    await ensureTopics(kafkaSettings());
    const consumer = await startConsumer();
    const ids = await fx.startRuns(20);
    await fx.local.orchestrator.drain();
    const rows = await fx.outboxOf(ids);
    expect(await fx.unpublished()).toBe(1);

    // WHEN two invocations run, the first cut short after its first batch of 50 (as a timed-out run would be)
    const publisher = kafkaPublisher(kafkaSettings());
    const start = Date.now();
    let clockReads = 0;
    const cut = await runRelay(
      {
        store: fx.local.runtime.store,
        publisher,
        // The deadline passes right after the first batch.
        now: () => (clockReads++ === 0 ? start : start + 60_000),
        sleep: async () => {},
      },
      { batchSize: 50, pollMs: 10, deadline: start + 1 },
    );
    const rest = await runRelay(
      { store: fx.local.runtime.store, publisher },
      { batchSize: 50, pollMs: 200, deadline: Date.now() + 15_000 },
    );
    await publisher.close();
    await waitFor(
      () => ofExecutions(consumer.received, ids).length >= rows.length,
      `every event of 20 runs (${rows.length} rows; relayed ${cut.relayed} + ${rest.relayed}, errors ${String(cut.error ?? rest.error ?? 'none')})`,
    );
    const got = ofExecutions(consumer.received, ids);
    await consumer.close();

    // THEN the first run relayed one batch and saw the rest waiting; together every row arrived, once per event id
    expect(cut.error).toBeUndefined();
    expect(rest.error).toBeUndefined();
    expect(cut.relayed).toBe(50);
    expect(cut.oldestUnsentAgeSeconds).toBeGreaterThan(0);
    expect(cut.relayed + rest.relayed).toBeGreaterThanOrEqual(rows.length);
    expect(new Set(got.map((r) => r.message.eventId))).toEqual(new Set(rows.map((r) => r.eventId)));
    // in sequence order within each run and topic, keyed by the run
    const byRunTopic = new Map<string, Received[]>();
    for (const r of got) {
      const k = `${r.message.executionId}/${r.topic}`;
      byRunTopic.set(k, [...(byRunTopic.get(k) ?? []), r]);
    }
    for (const [k, list] of byRunTopic) {
      const seqs = [...list].sort((a, b) => Number(a.offset - b.offset)).map((r) => r.message.sequence);
      expect(seqs, `${k} in sequence order`).toEqual([...seqs].sort((a, b) => a - b));
      expect(list.every((r) => r.key === r.message.executionId)).toBe(true);
    }
    // and the outbox is marked: nothing unsent, no lag
    expect(await fx.unpublished()).toBe(0);
    expect(rest.oldestUnsentAgeSeconds).toBe(0);
  });
});
