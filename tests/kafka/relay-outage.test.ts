import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecution } from '#shared/executions';
import type { EventRow } from '#shared/ports/store';
import { type LocalEventRelay, startLocalEventRelay } from '../../infra/local/engine/event-relay.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';
import { BROKERS, kafkaScript, type Received, startConsumer, waitFor } from './kafka-helpers.ts';

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
  it('a broker down for 10 s loses no event and does not slow the steps', async () => {
    // GIVEN the local relay on, and how long a run takes with the broker up
    const errors: string[] = [];
    relay = await startLocalEventRelay(local.runtime.config, local.runtime.store, {
      maxBackoffMs: 1_000,
      onError: (e) => errors.push((e as Error).message),
    });
    const timeRuns = async (n: number) => {
      const t0 = Date.now();
      const ids = await startRuns(n);
      await local.orchestrator.drain();
      return { ids, ms: Date.now() - t0 };
    };
    const baseline = await timeRuns(10);

    // WHEN the broker stops, runs go on for 10 s, then the broker comes back
    await kafkaScript('stop');
    const downAt = Date.now();
    const during: { ids: string[]; ms: number }[] = [];
    while (Date.now() - downAt < 10_000) during.push(await timeRuns(10));
    expect(await unpublished()).toBe(1);
    const upAt = Date.now();
    await kafkaScript('start');
    const restartedMs = Date.now() - upAt;
    const consumer = await startConsumer();
    const ids = [...baseline.ids, ...during.flatMap((d) => d.ids)];
    const rows = await outboxOf(ids);
    await waitFor(async () => (await unpublished()) === 0, 'the relay to catch up after the outage', 120_000);
    const caughtUpMs = Date.now() - upAt;
    await waitFor(
      () => new Set(of(consumer.received, ids).map((r) => r.message.eventId)).size >= rows.length,
      'every event delivered after the outage',
      120_000,
    );
    await consumer.close();

    // THEN nothing was lost, and a batch of runs during the outage took at most 2× + 500 ms its time before
    expect(new Set(of(consumer.received, ids).map((r) => r.message.eventId))).toEqual(
      new Set(rows.map((r) => r.eventId)),
    );
    const slowest = Math.max(...during.map((d) => d.ms));
    console.log(
      `runs ×10: ${baseline.ms} ms with the broker up, at most ${slowest} ms with it down; broker restart ${restartedMs} ms, outbox drained ${caughtUpMs} ms after it`,
    );
    expect(slowest).toBeLessThanOrEqual(baseline.ms * 2 + 500);
    // … and the relay saw the outage (its batches failed and were retried, not silently dropped)
    console.log(`relay errors during the outage: ${errors.length} (first: ${errors[0]})`);
    expect(relay?.relay.stats.failures).toBeGreaterThan(0);
  }, 300_000);
});
