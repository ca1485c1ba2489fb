import {
  type BaseOptions,
  defaultPartitioner,
  type Partitioner,
  Producer,
  stringSerializers,
} from '@platformatic/kafka';
import type { Config } from '../config.ts';
import { EventBrokerUnavailableError } from '../errors.ts';
import type { OutgoingMessage } from './kafka.ts';

/*
 * The Kafka client (@platformatic/kafka: pure JavaScript, maintained, SASL OAUTHBEARER with re-authentication
 * before the session expires; see docs/events.md for why this one). Connection options come from the config
 * only: plaintext to a local broker, or MSK IAM (OAUTHBEARER over TLS) on AWS.
 */

export type KafkaSettings = NonNullable<Config['kafka']>;

/** Options every client (producer, admin, consumer) shares: brokers, timeouts, and MSK IAM when asked. */
export function clientOptions(kafka: KafkaSettings, clientId: string): BaseOptions {
  const base: BaseOptions = {
    clientId,
    bootstrapBrokers: [...kafka.brokers],
    // Bounded: a broker outage fails a send in seconds, and the relay's own loop retries (the outbox keeps
    // the rows), instead of a client retrying for minutes while the relay looks healthy.
    connectTimeout: 3_000,
    requestTimeout: 10_000,
    timeout: 10_000,
    retries: 2,
    retryDelay: 250,
    // Explicit although it is the client's default: with `strict` the client validates every option and send
    // with ajv, which the Lambda bundles leave out (infra/constructs/bundling/ajv-2020.js; it throws if called).
    strict: false,
  };
  if (kafka.auth.kind === 'none') return base;
  const { region } = kafka.auth;
  return {
    ...base,
    tls: {},
    sasl: {
      mechanism: 'OAUTHBEARER',
      // A fresh presigned token for every (re-)authentication: MSK sessions end when it expires (15 min).
      // The signer is imported on the first authentication: at import it loads the SDK's STS client and
      // credential providers, which a Lambda would otherwise pay for at init before it knows it has events.
      token: async () => {
        const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
        return (await generateAuthToken({ region })).token;
      },
    },
  };
}

/** Where the relay sends a batch; a fake in unit tests, Kafka otherwise. */
export interface Publisher {
  /** Resolves once every message is acknowledged by all in-sync replicas; throws if any is not. */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The client's default partitioner (murmur2 of the key, as the Java client), remembered per key: hashing every
 * message's key was 4 % of the relay's CPU, and a batch carries the events of few runs.
 */
function rememberingPartitioner(): Partitioner<string, string, string, string> {
  const partitionOf = new Map<string, number>();
  return (message, key) => {
    const known = partitionOf.get(message.key ?? '');
    if (known !== undefined) return known;
    const partition = defaultPartitioner(message, key);
    // Bounded: a long-lived relay sees every run's id once.
    if (partitionOf.size >= 10_000) partitionOf.clear();
    if (message.key !== undefined) partitionOf.set(message.key, partition);
    return partition;
  };
}

/**
 * A Kafka publisher: acks from all in-sync replicas, idempotent producer (a retried produce request is not
 * written twice). After a failure the producer is dropped and a new one connects on the next batch, so a
 * broker that restarted is reached again whatever state the old connections were left in.
 */
export function kafkaPublisher(
  kafka: KafkaSettings,
  options: { clientId?: string; timeoutMs?: number } = {},
): Publisher {
  const clientId = options.clientId ?? 'wflo-outbox-relay';
  // A send to a broker that is gone can wait on metadata refreshes for a long time: the batch is given up
  // after this (it stays in the outbox) and the relay's backoff takes over.
  const timeoutMs = options.timeoutMs ?? 10_000;
  let producer: Producer<string, string, string, string> | undefined;
  const partitioner = rememberingPartitioner();
  const drop = async () => {
    const p = producer;
    producer = undefined;
    try {
      await p?.close();
    } catch {
      // A producer whose broker is gone may fail to close cleanly; it is dropped either way.
    }
  };
  return {
    async publish(messages) {
      if (messages.length === 0) return;
      producer ??= new Producer({
        ...clientOptions(kafka, clientId),
        serializers: stringSerializers,
        idempotent: true,
        acks: -1,
        autocreateTopics: false,
        partitioner,
      });
      const sending = producer.send({
        messages: messages.map((m) => ({
          topic: m.topic,
          key: m.key,
          value: m.value,
          headers: { ...m.headers },
        })),
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new EventBrokerUnavailableError(`Kafka did not acknowledge within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([sending, late]);
      } catch (error) {
        // An abandoned send may still land later: a duplicate with the same event id, which consumers drop.
        sending.catch(() => undefined);
        // Not awaited: closing a producer whose broker is gone waits for its in-flight requests.
        void drop();
        throw error instanceof EventBrokerUnavailableError
          ? error
          : new EventBrokerUnavailableError(`Kafka publish failed: ${(error as Error).message}`, {
              cause: error,
            });
      } finally {
        clearTimeout(timer);
      }
    },
    close: drop,
  };
}
