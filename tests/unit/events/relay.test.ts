import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';
import { CommitFrontier } from '#shared/events/frontier';
import {
  COST_EVENTS_TOPIC,
  EXECUTION_EVENTS_TOPIC,
  type OutgoingMessage,
  parseEventMessage,
  relayMessage,
  toKafkaMessage,
} from '#shared/events/kafka';
import type { Publisher } from '#shared/events/kafka-client';
import { drainOutbox, OutboxRelay, type RelayStore } from '#shared/events/relay';
import type { EventRow } from '#shared/ports/store';
import { memoryOutbox as outbox } from '../../helpers/memory-outbox.ts';

/** Every fourth row a cost event (the relay sends it to the cost topic). */
const memoryOutbox = (n: number) =>
  outbox(n, (i) => ({
    type: i % 4 === 0 ? 'cost.recorded' : 'step.succeeded',
    createdAt: new Date(1_700_000_000_000 + i),
  }));

function recordingPublisher(failFirst = 0) {
  const sent: OutgoingMessage[] = [];
  let calls = 0;
  const publisher: Publisher = {
    async publish(messages) {
      calls++;
      if (calls <= failFirst) throw new Error('broker down');
      sent.push(...messages);
    },
    close: async () => {},
  };
  return { sent, publisher };
}

describe('the Kafka message of an outbox event', () => {
  it('is keyed by execution id, carries id, type, execution, sequence and time, and goes to its topic', () => {
    // GIVEN a cost event and a step event
    const row: EventRow = {
      id: 42,
      eventId: 'e-1',
      executionId: 'run-1',
      type: 'cost.recorded',
      payload: { usdMicros: 101 },
      createdAt: new Date('2026-11-29T12:00:00Z'),
    };

    // WHEN they become messages
    const cost = toKafkaMessage(row);
    const step = toKafkaMessage({ ...row, type: 'step.started' });

    // THEN
    expect(cost.topic).toBe(COST_EVENTS_TOPIC);
    expect(step.topic).toBe(EXECUTION_EVENTS_TOPIC);
    expect(cost.key).toBe('run-1');
    expect(cost.headers['wflo-event-id']).toBe('e-1');
    expect(parseEventMessage(cost.value)).toEqual({
      eventId: 'e-1',
      type: 'cost.recorded',
      executionId: 'run-1',
      sequence: 42,
      time: '2026-11-29T12:00:00.000Z',
      payload: { usdMicros: 101 },
    });
    expect(() => parseEventMessage('{"type":"x"}')).toThrow(/not a wflo event message/);
  });

  it('is the same message when the relay builds it from the stored payload text', () => {
    // GIVEN a row with a payload that needs escaping, as the relay reads it (payload as JSON text)
    const row: EventRow = {
      id: 7,
      eventId: 'e-7',
      executionId: 'run-"7"',
      type: 'budget.warning',
      payload: { note: 'a "quoted"\nline', n: [1, 2] },
      createdAt: new Date('2026-11-29T12:00:00.123Z'),
    };

    // WHEN both ways build its message
    const relayed = relayMessage({
      id: row.id,
      eventId: row.eventId,
      executionId: row.executionId,
      type: row.type,
      createdAtMs: row.createdAt.getTime(),
      payloadJson: JSON.stringify(row.payload),
    });

    // THEN byte for byte the same
    expect(relayed).toEqual(toKafkaMessage(row));
  });
});

/** One batch: a drain told to stop before it reads a second one; the rows it published and marked. */
const relayBatch = async (store: RelayStore, publisher: Publisher, batchSize: number) =>
  (await drainOutbox(store, publisher, { batchSize, stopping: () => true })).relayed;

describe('one batch (drainOutbox stopping after it) / OutboxRelay', () => {
  it('publishes the rows after the cursor, then moves it; it stays put when publishing fails', async () => {
    // GIVEN 10 rows and a publisher that fails once
    const { rows, store, cursor } = memoryOutbox(10);
    const { sent, publisher } = recordingPublisher(1);

    // WHEN a batch fails, then two batches of 4 and one of 2 go through
    await expect(relayBatch(store, publisher, 4)).rejects.toThrow('broker down');
    const counts = [await relayBatch(store, publisher, 4), await relayBatch(store, publisher, 4)];
    counts.push(await relayBatch(store, publisher, 4), await relayBatch(store, publisher, 4));

    // THEN every row was sent once, in id order, and the cursor is past all of them
    expect(counts).toEqual([4, 4, 2, 0]);
    expect(sent.map((m) => parseEventMessage(m.value).sequence)).toEqual(rows.map((r) => r.id));
    expect(cursor()).toBe(10);
  });

  it('keeps going through failures with backoff, and reports each one', async () => {
    // GIVEN a publisher that fails three times
    const { store, cursor } = memoryOutbox(25);
    const { sent, publisher } = recordingPublisher(3);
    const failures: number[] = [];

    // WHEN the loop runs
    const relay = new OutboxRelay(store, publisher, {
      batchSize: 10,
      pollMs: 5,
      backoffMs: 5,
      onError: (_e, n) => failures.push(n),
    }).start();
    const until = Date.now() + 5_000;
    while (cursor() < 25 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    await relay.stop();

    // THEN all rows went out once, after the three reported failures
    expect(failures).toEqual([1, 2, 3]);
    expect(sent).toHaveLength(25);
    expect(relay.stats).toMatchObject({ relayed: 25, failures: 3 });
  });
});

/** A store and a publisher that log each call as it starts and ends, and a publisher that answers when told. */
function tracedRelay(n: number, failPublishCall?: number) {
  const { rows, store: inner, cursor } = memoryOutbox(n);
  const log: string[] = [];
  const acks: (() => void)[] = [];
  let calls = 0;
  let producing = 0;
  let maxProducing = 0;
  const store: RelayStore = {
    relayCursor: inner.relayCursor,
    async readRelayBatch(after, limit) {
      const got = await inner.readRelayBatch(after, limit);
      log.push(`read ${got.events.map((r) => r.id).join(',')}`);
      return got;
    },
    async advanceRelayCursor(name, lastId) {
      log.push(`mark ${lastId}`);
      return inner.advanceRelayCursor(name, lastId);
    },
  };
  const sent: number[] = [];
  const publisher: Publisher = {
    async publish(messages) {
      const call = ++calls;
      const seqs = messages.map((m) => parseEventMessage(m.value).sequence);
      producing++;
      maxProducing = Math.max(maxProducing, producing);
      log.push(`produce ${seqs.join(',')}`);
      // Acknowledged a few turns later, so a read or mark issued meanwhile shows up in between.
      await new Promise<void>((resolve) => acks.push(resolve));
      producing--;
      if (call === failPublishCall) throw new Error('broker down');
      sent.push(...seqs);
      log.push(`acked ${seqs.join(',')}`);
    },
    close: async () => {},
  };
  const acker = setInterval(() => acks.shift()?.(), 2);
  return {
    rows,
    cursor,
    store,
    publisher,
    log,
    sent,
    maxProducing: () => maxProducing,
    done: () => clearInterval(acker),
  };
}

describe('drainOutbox (the pipelined pass)', () => {
  it('reads the next batch and marks the last one while a batch is produced; one produce at a time', async () => {
    // GIVEN 7 rows in batches of 3
    const t = tracedRelay(7);

    // WHEN the outbox is drained
    const report = await drainOutbox(t.store, t.publisher, { batchSize: 3 }).finally(t.done);

    // THEN every row went out once in id order, produces never overlapped, the read of a batch and the
    // mark of the one before happened while the batch between them was being produced, and a batch was
    // marked only after its own produce was acknowledged
    expect(report).toEqual({ relayed: 7, batches: 3, heldAtGap: false });
    expect(t.sent).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(t.maxProducing()).toBe(1);
    expect(t.log).toEqual([
      'read 1,2,3',
      'produce 1,2,3',
      'read 4,5,6',
      'acked 1,2,3',
      'mark 3',
      'produce 4,5,6',
      'read 7',
      'acked 4,5,6',
      'mark 6',
      'produce 7',
      'acked 7',
      'mark 7',
    ]);
    expect(t.cursor()).toBe(7);
  });

  it('marks the batch already acknowledged when a later produce fails, and leaves the failed one unsent', async () => {
    // GIVEN 9 rows in batches of 3 and a broker that fails the second produce
    const t = tracedRelay(9, 2);

    // WHEN the outbox is drained
    const draining = drainOutbox(t.store, t.publisher, { batchSize: 3 }).finally(t.done);

    // THEN the drain fails, rows 1-3 are marked, 4-9 wait in the outbox for the next pass (nothing skipped)
    await expect(draining).rejects.toThrow('broker down');
    expect(t.cursor()).toBe(3);
    const retry = tracedRelay(0);
    const again = await drainOutbox(t.store, retry.publisher, { batchSize: 3 }).finally(retry.done);
    expect(again.relayed).toBe(6);
    expect(retry.sent).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('holds the cursor at a row whose transaction is still running, and sends it once it commits', async () => {
    // GIVEN 6 rows of which row 2's transaction is still running (invisible, so it holds the snapshot's xmin)
    const o = memoryOutbox(6);
    o.hold(2);
    const { sent, publisher } = recordingPublisher();

    // WHEN one pass runs, then row 2 commits and the next pass runs
    const first = await drainOutbox(o.store, publisher, { batchSize: 2 });
    o.commit(2);
    const second = await drainOutbox(o.store, publisher, { batchSize: 2 });

    // THEN the first pass sent row 1 only (3-6 wait behind the gap, not past it) and said so; the second sent the
    // rest in id order: nothing skipped, nothing out of order
    expect(first).toEqual({ relayed: 1, batches: 1, heldAtGap: true });
    expect(second.relayed).toBe(5);
    expect(sent.map((m) => parseEventMessage(m.value).sequence)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(o.cursor()).toBe(6);
  });

  it('passes a gap whose transaction rolled back once no transaction that could hold it is running', async () => {
    // GIVEN 6 rows of which row 2's transaction is running, and a relay that has stopped at it
    const o = memoryOutbox(6);
    o.hold(2);
    const { sent, publisher } = recordingPublisher();
    const frontier = new CommitFrontier();
    await drainOutbox(o.store, publisher, { batchSize: 10, frontier });

    // WHEN that transaction rolls back (row 2 never appears) and the relay looks again
    o.rollback(2);
    const again = await drainOutbox(o.store, publisher, { batchSize: 10, frontier });

    // THEN the rows after the gap went out: the relay did not wait for ever
    expect(again.heldAtGap).toBe(false);
    expect(sent.map((m) => parseEventMessage(m.value).sequence)).toEqual([1, 3, 4, 5, 6]);
  });
});

describe('KAFKA_* configuration', () => {
  it('is off without KAFKA_BROKERS, plaintext with it, MSK IAM with KAFKA_AUTH=iam', () => {
    expect(loadConfig({}).kafka).toBeUndefined();
    expect(loadConfig({ KAFKA_BROKERS: '127.0.0.1:59092, b:9092' }).kafka).toEqual({
      brokers: ['127.0.0.1:59092', 'b:9092'],
      auth: { kind: 'none' },
    });
    expect(
      loadConfig({ KAFKA_BROKERS: 'b-1.x:9098', KAFKA_AUTH: 'iam', AWS_REGION: 'eu-west-1' }).kafka?.auth,
    ).toEqual({ kind: 'iam', region: 'eu-west-1' });
    expect(() => loadConfig({ KAFKA_BROKERS: 'no-port' })).toThrow(ConfigError);
    expect(() => loadConfig({ KAFKA_BROKERS: 'b:9098', KAFKA_AUTH: 'iam' })).toThrow(/AWS_REGION/);
  });
});
