import type { EventRow, RelayEvent } from '../ports/store.ts';
import { EVENTS } from './catalogue.ts';

/*
 * What the outbox looks like on Kafka: the topics, which event goes where, and the message every consumer
 * reads. Plain data and functions (no client), so the relay, the consumers and the topic custom resource
 * share one definition and the unit tests need no broker.
 */

/** Execution and step life cycle (everything that is not money), keyed by execution id. */
export const EXECUTION_EVENTS_TOPIC = 'wflo.execution-events';
/** Money: `cost.recorded` and `budget.warning`, keyed by execution id (the cost projection reads only these). */
export const COST_EVENTS_TOPIC = 'wflo.cost-events';

/** Every topic the project creates, with its partition count (12: room for consumers to scale out). */
export const TOPICS = [
  { name: EXECUTION_EVENTS_TOPIC, partitions: 12 },
  { name: COST_EVENTS_TOPIC, partitions: 12 },
] as const;

const COST_TYPES: ReadonlySet<string> = new Set([EVENTS.costRecorded, EVENTS.budgetWarning]);

/** The topic an outbox event is relayed to. */
export const topicOf = (type: string): string =>
  COST_TYPES.has(type) ? COST_EVENTS_TOPIC : EXECUTION_EVENTS_TOPIC;

/**
 * The value of every message (JSON). `sequence` is the outbox row id: increasing per execution in commit
 * order, the SSE `id:`, and what a consumer orders by; `eventId` is what a consumer dedupes on (a relay
 * that crashed between publishing and marking publishes the same event again, with the same id).
 */
export interface EventMessage {
  readonly eventId: string;
  readonly type: string;
  readonly executionId: string;
  readonly sequence: number;
  /** ISO 8601, when the event committed. */
  readonly time: string;
  readonly payload: unknown;
}

/** One message as the relay sends it: key = execution id (one partition per run, so its order holds). */
export interface OutgoingMessage {
  readonly topic: string;
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The Kafka message of an outbox row. */
export function toKafkaMessage(row: EventRow): OutgoingMessage {
  const message: EventMessage = {
    eventId: row.eventId,
    type: row.type,
    executionId: row.executionId,
    sequence: row.id,
    time: row.createdAt.toISOString(),
    payload: row.payload,
  };
  return {
    topic: topicOf(row.type),
    key: row.executionId,
    value: JSON.stringify(message),
    headers: { 'wflo-event-id': row.eventId, 'wflo-event-type': row.type },
  };
}

/**
 * `make`, remembered per key: what the relay encodes per run or per event type (few of each in a batch).
 * Bounded (emptied when full) because a long-lived relay sees every run's id once.
 */
export function remembered<K, V>(make: (key: K) => V, limit = 10_000): (key: K) => V {
  const known = new Map<K, V>();
  return (key) => {
    let value = known.get(key);
    if (value === undefined) {
      value = make(key);
      if (known.size >= limit) known.clear();
      known.set(key, value);
    }
    return value;
  };
}

/** `"type":"…"` and `"executionId":"…"` recur across a batch (few types, few runs): quoted once each. */
const typeFragment = remembered((type: string) => `,"type":${JSON.stringify(type)}`);
const executionFragment = remembered((id: string) => `,"executionId":${JSON.stringify(id)}`);
/** The rows of one statement share their commit time: the last one formatted is usually the next one. */
let lastMs = Number.NaN;
let lastIso = '';

/**
 * The Kafka message of an outbox row as the relay reads it: the same message as {@link toKafkaMessage}, with the
 * payload's stored JSON text put in as it is (never parsed and serialised again: the relay's hottest path).
 */
export function relayMessage(e: RelayEvent): OutgoingMessage {
  if (e.createdAtMs !== lastMs) {
    lastIso = new Date(e.createdAtMs).toISOString();
    lastMs = e.createdAtMs;
  }
  return {
    topic: topicOf(e.type),
    key: e.executionId,
    // Key order as in EventMessage; JSON.stringify for the strings (ids and types are plain, but it costs nothing).
    value: `{"eventId":${JSON.stringify(e.eventId)}${typeFragment(e.type)}${executionFragment(e.executionId)},"sequence":${e.id},"time":"${lastIso}","payload":${e.payloadJson}}`,
    headers: { 'wflo-event-id': e.eventId, 'wflo-event-type': e.type },
  };
}

/** Parses a message value back (consumers); throws on anything that is not an {@link EventMessage}. */
export function parseEventMessage(value: string | Buffer | unknown): EventMessage {
  const json: unknown =
    typeof value === 'string' || Buffer.isBuffer(value) ? JSON.parse(value.toString()) : value;
  const m = json as Partial<EventMessage> | null;
  if (
    !m ||
    typeof m.eventId !== 'string' ||
    typeof m.type !== 'string' ||
    typeof m.executionId !== 'string' ||
    typeof m.sequence !== 'number' ||
    typeof m.time !== 'string'
  ) {
    throw new TypeError('not a wflo event message (eventId, type, executionId, sequence, time)');
  }
  return m as EventMessage;
}
