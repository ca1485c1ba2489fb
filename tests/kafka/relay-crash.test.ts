import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaPublisher, type Publisher } from '#shared/events/kafka-client';
import { OutboxRelay } from '#shared/events/relay';
import { startExecution } from '#shared/executions';
import type { EventRow } from '#shared/ports/store';
import type { LocalEventRelay } from '../../infra/local/engine/event-relay.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';
import { BROKERS, kafkaSettings, type Received, startConsumer, waitFor } from './kafka-helpers.ts';

/*
 * The outbox relay against a real Apache Kafka broker (tests/integration/kafka.sh, KRaft on loopback) and
 * the embedded runtime running real workflows. Every check reads back what a consumer received.
 */

const GOAL = { goal: 'relay test', model: TEST_MODEL };

let local: LocalRuntime;
let relay: LocalEventRelay | undefined;

beforeAll(async () => {
  local = await startLocal({ KAFKA_BROKERS: BROKERS ?? '' });
});
afterAll(async () => {
  await relay?.stop();
  await stopLocal(local);
});

async function startRuns(n: number): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: n }, async () => {
      const { execution } = await startExecution(
        { store: local.runtime.store, engine: local.engine },
        { workflow: 'agent-loop', input: GOAL, budgetMicros: null },
      );
      ids.push(execution.id);
    }),
  );
  return ids;
}

async function outboxOf(ids: readonly string[]): Promise<EventRow[]> {
  const rows = await Promise.all(ids.map((id) => local.runtime.store.listEvents(id, 0, 10_000)));
  return rows.flat();
}

/** Received messages of these executions only (the broker keeps earlier runs' messages). */
const of = (received: readonly Received[], ids: readonly string[]) => {
  const set = new Set(ids);
  return received.filter((r) => set.has(r.message.executionId));
};

const unpublished = async () => (await local.runtime.store.listUnpublishedEvents(1)).length;

describe.skipIf(!BROKERS)('outbox relay → Kafka', () => {
  it('a relay that crashes mid-batch loses nothing: the next one resends, duplicates carry the same event id', async () => {
    // GIVEN runs whose events are in the outbox, unrelayed
    const ids = await startRuns(20);
    await local.orchestrator.drain();
    const rows = await outboxOf(ids);
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
    const first = new OutboxRelay(local.runtime.store, crashing, {
      batchSize: 40,
      backoffMs: 60_000,
    }).start();
    await waitFor(() => first.stats.failures > 0, 'the crash');
    await first.stop();
    expect(await unpublished()).toBe(1);

    // WHEN a new relay starts (a fresh process: a fresh producer)
    const second = new OutboxRelay(local.runtime.store, kafkaPublisher(kafkaSettings())).start();
    await waitFor(async () => (await unpublished()) === 0, 'the second relay to drain the outbox');
    await second.stop();
    await waitFor(
      () => new Set(of(consumer.received, ids).map((r) => r.message.eventId)).size >= rows.length,
      'every event delivered',
    );
    await new Promise((r) => setTimeout(r, 500));
    const got = of(consumer.received, ids);
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
