import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { parseEventMessage, TOPICS } from '#shared/events/kafka';
import { ensureTopics } from '#shared/events/kafka-admin';
import { kafkaPublisher } from '#shared/events/kafka-client';
import { OutboxRelay, relayUntilEmpty } from '#shared/events/relay';
import type { WorkflowEngine } from '#shared/ports/engine';
import { createApp } from '../../functions/api/app.ts';
import { openTestStore } from '../helpers/database.ts';
import { type BenchResult, percentile, target } from './lib.ts';

/*
 * `npm run bench -- events`: the outbox relay to a real local broker (tests/integration/kafka.sh; started
 * here if it is not up, and stopped again) on in-process PGlite: relay throughput, commit-to-consumer
 * latency, and SSE fan-out latency over 50 streams.
 */

const THROUGHPUT_EVENTS = 20_000;
const LATENCY_EVENTS = 300;
const STREAMS = 50;

function broker(): { brokers: string; startedHere: boolean } {
  if (process.env.KAFKA_BROKERS) return { brokers: process.env.KAFKA_BROKERS, startedHere: false };
  let up = true;
  try {
    execFileSync('bash', ['tests/integration/kafka.sh', 'status'], { stdio: 'ignore' });
  } catch {
    up = false;
  }
  const out = execFileSync('bash', ['tests/integration/kafka.sh', 'start'], { encoding: 'utf8' });
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(out)?.[1];
  if (!brokers) throw new Error('kafka.sh did not report KAFKA_BROKERS');
  return { brokers, startedHere: !up };
}

async function createRuns(store: Awaited<ReturnType<typeof openTestStore>>['store'], n: number) {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const id = randomUUID();
      await store.createExecution({ id, workflow: 'bench', input: {} });
      return id;
    }),
  );
}

export async function run(): Promise<BenchResult> {
  const { brokers, startedHere } = broker();
  const kafka = { brokers: brokers.split(','), auth: { kind: 'none' as const } };
  await ensureTopics(kafka);
  const { store, close } = await openTestStore();
  const publisher = kafkaPublisher(kafka, { clientId: 'bench-relay' });
  try {
    // ---- relay throughput: a backlog of 20,000 events, drained in batches of 1,000 --------------------------
    const ids = await createRuns(store, 20);
    await relayUntilEmpty(store, publisher, { batchSize: 1_000 }); // the runs' own events, and a warm producer
    for (let i = 0; i < THROUGHPUT_EVENTS; i += 1_000) {
      await store.appendEvents(
        ids[(i / 1_000) % ids.length]!,
        Array.from({ length: 1_000 }, (_, j) => ({ type: 'step.started' as const, payload: { i: i + j } })),
      );
    }
    const t0 = performance.now();
    const relayed = await relayUntilEmpty(store, publisher, { batchSize: 1_000 });
    const throughputSeconds = (performance.now() - t0) / 1000;
    const eventsPerSecond = relayed / throughputSeconds;

    // ---- commit → consumer latency: the relay loop running, one event committed every 10 ms ---------------
    const consumer = new Consumer({
      clientId: 'bench-consumer',
      groupId: `bench-${randomUUID()}`,
      bootstrapBrokers: kafka.brokers,
      deserializers: stringDeserializers,
    });
    const stream = await consumer.consume({
      topics: TOPICS.map((t) => t.name),
      mode: 'latest',
      maxWaitTime: 10,
    });
    const committedAt = new Map<string, number>();
    const latencies: number[] = [];
    stream.on('data', (m) => {
      const msg = parseEventMessage(m.value);
      const at = committedAt.get(msg.executionId + msg.sequence);
      if (at !== undefined) latencies.push(performance.now() - at);
    });
    await new Promise((r) => setTimeout(r, 3_000)); // group joined, positioned at the end
    const relay = new OutboxRelay(store, publisher, { pollMs: 5 }).start();
    const [latencyRun] = await createRuns(store, 1);
    for (let i = 0; i < LATENCY_EVENTS; i++) {
      const before = performance.now();
      await store.appendEvents(latencyRun!, [{ type: 'step.started', payload: { i } }]);
      const [row] = (await store.listEvents(latencyRun!, 0, 10_000)).slice(-1);
      committedAt.set(latencyRun! + row!.id, before);
      await new Promise((r) => setTimeout(r, 10));
    }
    const until = Date.now() + 30_000;
    while (latencies.length < LATENCY_EVENTS && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await relay.stop();
    await stream.close();
    await consumer.close();

    // ---- SSE fan-out: 50 streams, one event committed to each run ------------------------------------------
    const none = new Proxy({}, { get: () => () => Promise.reject(new Error('no engine in the bench')) });
    // The product's stream settings: one shared outbox reader (functions/api/event-hub.ts) at its default interval.
    const app = createApp({ store, engine: none as WorkflowEngine });
    const { server, base } = await new Promise<{ server: ReturnType<typeof serve>; base: string }>(
      (resolve) => {
        const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
          resolve({ server: s, base: `http://127.0.0.1:${info.port}` }),
        );
      },
    );
    const runs = await createRuns(store, STREAMS);
    const firstEvent: number[] = [];
    const fanOut: number[] = [];
    const aborts = new AbortController();
    let committed = 0;
    const readers = runs.map(async (id) => {
      const opened = performance.now();
      const res = await fetch(`${base}/executions/${id}/stream`, { signal: aborts.signal });
      const reader = res.body!.getReader();
      let text = '';
      let seen = 0;
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += new TextDecoder().decode(value);
        const n = (text.match(/^id: /gm) ?? []).length;
        if (n > seen) {
          if (seen === 0) firstEvent.push(performance.now() - opened);
          else fanOut.push(performance.now() - committed);
          seen = n;
        }
        if (seen >= 2) return;
      }
    });
    await new Promise((r) => setTimeout(r, 1_000));
    committed = performance.now();
    await Promise.all(runs.map((id) => store.appendEvents(id, [{ type: 'step.started', payload: {} }])));
    await Promise.race([Promise.all(readers), new Promise((r) => setTimeout(r, 30_000))]);
    aborts.abort();
    await new Promise((r) => server.close(r));

    return {
      name: 'events',
      figures: {
        relayedEvents: relayed,
        relayEventsPerSecond: Math.round(eventsPerSecond),
        commitToConsumerP50Ms: percentile(latencies, 50),
        commitToConsumerP99Ms: percentile(latencies, 99),
        latencySamples: latencies.length,
        sseFirstEventP50Ms: percentile(firstEvent, 50),
        sseFirstEventP99Ms: percentile(firstEvent, 99),
        sseFanOut50P50Ms: percentile(fanOut, 50),
        sseFanOut50P99Ms: percentile(fanOut, 99),
      },
      targets: {
        // The target is ≥ 20,000 events/s; expressed as seconds per 20,000 so `max` reads as a ceiling.
        secondsPer20kEvents: target((20_000 / eventsPerSecond) * 1, 1),
      },
      notes: [
        'PGlite in-process (one backend: publishing and marking share it with nothing else here); Kafka 4.1.1 KRaft on loopback',
        'commit→consumer: appendEvents start → message received by a consumer (relay polling every 5 ms)',
        'SSE: 50 streams on one shared outbox reader (its default 25 ms interval on PGlite; before it, each stream polled every 100 ms); fan-out = one event committed to each run → its stream has it',
      ],
    };
  } finally {
    await publisher.close();
    await close();
    if (startedHere) execFileSync('bash', ['tests/integration/kafka.sh', 'stop'], { stdio: 'ignore' });
  }
}
