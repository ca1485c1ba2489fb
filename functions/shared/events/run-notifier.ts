import { TERMINAL_STATUSES } from '../ports/store.ts';
import { executionEndEvent } from './catalogue.ts';
import type { EventMessage } from './kafka.ts';

/*
 * The run notifier: a Kafka consumer (consumer group `wflo-run-notifier`) that announces every run's end on an
 * SNS topic, so a team subscribes e-mail, chat, an HTTPS webhook or a queue to "run finished" without polling
 * the API. Delivery is at least once (Kafka redelivers a batch whose invocation failed); the message carries
 * the event id for subscribers that must not act twice.
 */

const END_TYPES: ReadonlySet<string> = new Set(TERMINAL_STATUSES.map(executionEndEvent));

/** One announcement: the SNS subject and the JSON body. */
export interface RunNotification {
  readonly subject: string;
  readonly message: string;
  /** Subscribers filter on these (SNS message attributes). */
  readonly attributes: Readonly<Record<'type' | 'executionId' | 'eventId', string>>;
}

/** Where announcements go (SNS on AWS; a fake in tests). */
export type Announce = (notification: RunNotification) => Promise<void>;

/** True for the event that ends a run (`execution.succeeded`, `.failed`, `.timed_out`, ...). */
export const isRunEnd = (message: EventMessage): boolean => END_TYPES.has(message.type);

/** The announcement of one run end. */
export function runNotification(message: EventMessage): RunNotification {
  const status = message.type.slice('execution.'.length);
  return {
    // SNS subjects: ASCII, at most 100 characters.
    subject: `wflo run ${status}: ${message.executionId}`.slice(0, 100),
    message: JSON.stringify({
      eventId: message.eventId,
      type: message.type,
      executionId: message.executionId,
      status,
      time: message.time,
      sequence: message.sequence,
      payload: message.payload,
    }),
    attributes: { type: message.type, executionId: message.executionId, eventId: message.eventId },
  };
}

/**
 * Announces each run end among `messages` once per batch (a relay retry can put the same event twice in one
 * batch: same event id), in the order given; returns how many were announced. A failed announcement throws,
 * so the whole batch is retried by the event source (at least once).
 */
export async function notifyRunEnds(announce: Announce, messages: readonly EventMessage[]): Promise<number> {
  const seen = new Set<string>();
  let sent = 0;
  for (const m of messages) {
    if (!isRunEnd(m) || seen.has(m.eventId)) continue;
    seen.add(m.eventId);
    await announce(runNotification(m));
    sent++;
  }
  return sent;
}
