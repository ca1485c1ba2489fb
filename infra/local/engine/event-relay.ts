import type { Config } from '#shared/config';
import { ensureTopics } from '#shared/events/kafka-admin';
import { kafkaPublisher, type Publisher } from '#shared/events/kafka-client';
import { OutboxRelay, type OutboxRelayOptions, relayUntilEmpty } from '#shared/events/relay';
import type { Store } from '#shared/ports/store';

/** The local relay as the CLI holds it: stop it before the store closes. */
export interface LocalEventRelay {
  readonly relay: OutboxRelay;
  stop(): Promise<void>;
}

/**
 * With KAFKA_BROKERS set, relays the embedded store's outbox to that broker (creating the topics first);
 * without it, nothing (undefined): SSE and `/events?after=` read the outbox directly. The relay runs
 * beside the engine in the same process and only reads and marks outbox rows, so no step waits on Kafka;
 * a broker that is down is retried with backoff and reported once per outage, not once per attempt.
 */
export async function startLocalEventRelay(
  config: Config,
  store: Store,
  options: OutboxRelayOptions & { publisher?: Publisher; log?: (line: string) => void } = {},
): Promise<LocalEventRelay | undefined> {
  const kafka = config.kafka;
  if (!kafka) return undefined;
  const log = options.log ?? ((line: string) => console.error(line));
  try {
    await ensureTopics(kafka);
  } catch (error) {
    // The broker may come up later: the relay keeps retrying, and a missing topic fails its batches loudly.
    log(`wflo: Kafka topics not checked (${(error as Error).message}); the relay retries`);
  }
  const publisher = options.publisher ?? kafkaPublisher(kafka);
  const relay = new OutboxRelay(store, publisher, {
    ...options,
    onError: (error, failures) => {
      options.onError?.(error, failures);
      if (failures === 1)
        log(`wflo: event relay to ${kafka.brokers.join(',')} failing, retrying: ${(error as Error).message}`);
    },
  }).start();
  return {
    relay,
    stop: async () => {
      await relay.stop();
      // What the last steps wrote goes out now rather than at the next start (bounded: a broker that is down
      // leaves the rows in the outbox, where the next start finds them).
      await relayUntilEmpty(store, publisher, { batchSize: 500, deadline: Date.now() + 2_000 }).catch(
        () => 0,
      );
      await publisher.close();
    },
  };
}
