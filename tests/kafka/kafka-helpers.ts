import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { afterAll, beforeAll } from 'vitest';
import { type EventMessage, parseEventMessage, TOPICS } from '#shared/events/kafka';
import { startExecution } from '#shared/executions';
import type { EventRow } from '#shared/ports/store';
import type { LocalEventRelay } from '../../infra/local/engine/event-relay.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

/** The broker tests/integration/kafka.sh started (`npm run test:kafka` exports it). */
export const BROKERS = process.env.KAFKA_BROKERS;
export const kafkaSettings = () => ({ brokers: (BROKERS ?? '').split(','), auth: { kind: 'none' as const } });

/** One message as a consumer saw it. */
export interface Received {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string;
  readonly message: EventMessage;
}

/** A consumer in `groupId` on every wflo topic, from the earliest offset, recording what it receives. */
export async function startConsumer(groupId = `test-${randomUUID()}`) {
  const consumer = new Consumer({
    clientId: `test-${groupId}`,
    groupId,
    bootstrapBrokers: (BROKERS ?? '').split(','),
    deserializers: stringDeserializers,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const received: Received[] = [];
  // Every partition this member held in any generation: under load a rebalance can move a partition between the
  // time a fetch was sent and the time its records are delivered, so a record may come from a partition the member
  // held a generation ago. A record from a partition it never held is still a failure.
  const everAssigned = new Set<string>();
  consumer.on('consumer:group:join', ({ assignments }: { assignments?: Consumer['assignments'] }) => {
    for (const a of assignments ?? []) for (const p of a.partitions) everAssigned.add(`${a.topic}:${p}`);
  });
  const stream = await consumer.consume({
    topics: TOPICS.map((t) => t.name),
    mode: 'committed',
    fallbackMode: 'earliest',
    // No offset commits: a commit racing a rebalance fails with ILLEGAL_GENERATION and ends the stream. A member
    // given a partition after a rebalance reads it again from the earliest offset; tests count event ids, so
    // the repeats they see are the at-least-once delivery consumers dedupe anyway.
    autocommit: false,
    maxWaitTime: 100,
  });
  stream.on('data', (m) => {
    received.push({
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key,
      message: parseEventMessage(m.value),
    });
  });
  return {
    groupId,
    consumer,
    received,
    /** Partitions assigned to this member now (topic:partition). */
    assigned: () =>
      new Set((consumer.assignments ?? []).flatMap((a) => a.partitions.map((p) => `${a.topic}:${p}`))),
    /** Partitions assigned to this member in any generation so far (topic:partition). */
    everAssigned: () => new Set(everAssigned),
    close: async () => {
      await stream.close();
      await consumer.close();
    },
  };
}

/** Waits until `done()` holds, polling; throws naming `what` after `timeoutMs`. */
export async function waitFor(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000) {
  const until = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs tests/integration/kafka.sh with a command (stop / start): the broker outage of the fault tests.
 * Asynchronous, so the relay and the runs keep going while the broker stops and starts.
 */
export async function kafkaScript(command: 'start' | 'stop'): Promise<void> {
  await promisify(execFile)('bash', ['tests/integration/kafka.sh', command]);
}

/** The input every relay test's agent-loop runs get. */
const RELAY_GOAL = { goal: 'relay test', model: TEST_MODEL };

/**
 * The embedded runtime a relay test file drives (started before its tests, stopped after them with the relay
 * the file started in `relay`), and what its tests do with it: start runs, read their outbox, count what is
 * still unpublished.
 */
export function relayFixture() {
  const fx = {
    local: undefined as unknown as LocalRuntime,
    relay: undefined as LocalEventRelay | undefined,
    async startRuns(n: number): Promise<string[]> {
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: n }, async () => {
          const { execution } = await startExecution(
            { store: fx.local.runtime.store, engine: fx.local.engine },
            { workflow: 'agent-loop', input: RELAY_GOAL, budgetMicros: null },
          );
          ids.push(execution.id);
        }),
      );
      return ids;
    },
    async outboxOf(ids: readonly string[]): Promise<EventRow[]> {
      const rows = await Promise.all(ids.map((id) => fx.local.runtime.store.listEvents(id, 0, 10_000)));
      return rows.flat();
    },
    /** 1 while any outbox row is after the relay's cursor (not yet published), 0 once the relay caught up. */
    unpublished: async () => {
      const store = fx.local.runtime.store;
      return (await store.readRelayBatch(await store.relayCursor('kafka'), 1)).events.length;
    },
  };
  beforeAll(async () => {
    fx.local = await startLocal({ KAFKA_BROKERS: BROKERS ?? '' });
  });
  afterAll(async () => {
    await fx.relay?.stop();
    await stopLocal(fx.local);
  });
  return fx;
}

/** Received messages of these executions only (the broker keeps earlier runs' messages). */
export const ofExecutions = (received: readonly Received[], ids: readonly string[]) => {
  const set = new Set(ids);
  return received.filter((r) => set.has(r.message.executionId));
};
