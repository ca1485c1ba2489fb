import { describe, expect, it } from 'vitest';
import { startLocalEventRelay } from '../../infra/local/engine/event-relay.ts';
import {
  BROKERS,
  ofExecutions,
  type Received,
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
  it('relays every event of 50 concurrent runs in order per execution, on one partition per run and topic', async () => {
    // GIVEN the local relay on, and a consumer group reading every topic
    fx.relay = await startLocalEventRelay(fx.local.runtime.config, fx.local.runtime.store);
    const consumer = await startConsumer();

    // WHEN 50 agent-loop runs execute at once
    const ids = await fx.startRuns(50);
    await fx.local.orchestrator.drain();
    const rows = await fx.outboxOf(ids);
    await waitFor(() => ofExecutions(consumer.received, ids).length >= rows.length, 'every event of 50 runs');
    const got = ofExecutions(consumer.received, ids);
    await consumer.close();

    // THEN each outbox row arrived (by event id), and within a run and topic the sequence only increases
    expect(rows.length).toBeGreaterThan(50 * 5);
    expect(new Set(got.map((r) => r.message.eventId))).toEqual(new Set(rows.map((r) => r.eventId)));
    const byRunTopic = new Map<string, Received[]>();
    for (const r of got) {
      const k = `${r.message.executionId}/${r.topic}`;
      byRunTopic.set(k, [...(byRunTopic.get(k) ?? []), r]);
    }
    for (const [k, list] of byRunTopic) {
      expect(new Set(list.map((r) => r.partition)).size, `${k} on one partition`).toBe(1);
      const sorted = [...list].sort((a, b) => Number(a.offset - b.offset));
      const seqs = sorted.map((r) => r.message.sequence);
      expect(seqs, `${k} in sequence order`).toEqual([...seqs].sort((a, b) => a - b));
      expect(sorted.every((r) => r.key === r.message.executionId)).toBe(true);
    }
    // Every event type went to its topic.
    expect(
      got.filter((r) => r.message.type === 'cost.recorded').every((r) => r.topic === 'wflo.cost-events'),
    ).toBe(true);
    expect(
      got.filter((r) => r.message.type.startsWith('step.')).every((r) => r.topic === 'wflo.execution-events'),
    ).toBe(true);
    await waitFor(async () => (await fx.unpublished()) === 0, 'outbox marked published');
    await fx.relay?.stop();
    fx.relay = undefined;
  });

  it('two consumers in one group split the partitions; a third group sees everything', async () => {
    // GIVEN two members of one group, both assigned, and a consumer in a group of its own
    fx.relay ??= await startLocalEventRelay(fx.local.runtime.config, fx.local.runtime.store);
    const group = `test-split-${Date.now()}`;
    const a = await startConsumer(group);
    const b = await startConsumer(group);
    const solo = await startConsumer();
    await waitFor(() => a.assigned().size > 0 && b.assigned().size > 0, 'both members assigned', 60_000);

    // WHEN 30 runs execute
    const ids = await fx.startRuns(30);
    await fx.local.orchestrator.drain();
    const rows = await fx.outboxOf(ids);
    const all = () =>
      new Set(
        [...ofExecutions(a.received, ids), ...ofExecutions(b.received, ids)].map((r) => r.message.eventId),
      );
    await waitFor(() => all().size >= rows.length, 'the group to receive every event');
    await waitFor(
      () => new Set(ofExecutions(solo.received, ids).map((r) => r.message.eventId)).size >= rows.length,
      'solo',
    );
    const [pa, pb] = [a.assigned(), b.assigned()];
    const [ha, hb] = [a.everAssigned(), b.everAssigned()];
    const [ra, rb] = [ofExecutions(a.received, ids), ofExecutions(b.received, ids)];
    await Promise.all([a.close(), b.close(), solo.close()]);

    // THEN the members' partitions are disjoint, each got events only from partitions it was given (in this or an
    // earlier generation, if a rebalance moved one mid-fetch), together all of them; the solo group too
    expect([...pa].filter((p) => pb.has(p))).toEqual([]);
    expect(ra.length).toBeGreaterThan(0);
    expect(rb.length).toBeGreaterThan(0);
    expect(ra.filter((r) => !ha.has(`${r.topic}:${r.partition}`))).toEqual([]);
    expect(rb.filter((r) => !hb.has(`${r.topic}:${r.partition}`))).toEqual([]);
    expect(all()).toEqual(new Set(rows.map((r) => r.eventId)));
    expect(new Set(ofExecutions(solo.received, ids).map((r) => r.message.eventId))).toEqual(
      new Set(rows.map((r) => r.eventId)),
    );
  });
});
