import { type BaseOptions, defaultPartitioner, type MessageToProduce, Producer } from '@platformatic/kafka';
import type { Config } from '../config.ts';
import { EventBrokerUnavailableError } from '../errors.ts';
import { type OutgoingMessage, remembered } from './kafka.ts';

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
 * Turns a batch of messages into what the producer sends, with the fewest allocations: every value and header
 * value is written into one buffer per batch (a slice each), while keys (a batch carries the events of few runs),
 * header names and each key's partition (murmur2 of the key, as the Java client: hashing every message was 4 %
 * of the relay's CPU) are encoded once and remembered. Encoding was the larger share of the relay's CPU, and a
 * string handed to the client's string serialiser costs a buffer of its own (six per message).
 */
function batchEncoder(): (messages: readonly OutgoingMessage[]) => MessageToProduce[] {
  const keyOf = remembered((key: string) => {
    const bytes = Buffer.from(key);
    return { bytes, partition: defaultPartitioner({ topic: '', key: bytes }, bytes) };
  });
  const nameOf = remembered((name: string) => Buffer.from(name));
  return (messages) => {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: one allocation holds the whole batch. Never reused: an
    // abandoned send (timed out) may still be writing it.
    let bound = 0;
    for (const m of messages) {
      bound += m.value.length;
      for (const name in m.headers) bound += m.headers[name]!.length;
    }
    const buffer = Buffer.allocUnsafeSlow(bound * 3);
    let at = 0;
    const put = (text: string) => {
      const start = at;
      at += buffer.write(text, at);
      return buffer.subarray(start, at);
    };
    return messages.map((m) => {
      const key = keyOf(m.key);
      const headers = new Map<Buffer, Buffer>();
      for (const name in m.headers) headers.set(nameOf(name), put(m.headers[name]!));
      return { topic: m.topic, key: key.bytes, value: put(m.value), headers, partition: key.partition };
    });
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
  let producer: Producer | undefined;
  const encode = batchEncoder();
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
        // No serialisers: the encoder hands the client buffers.
        idempotent: true,
        acks: -1,
        autocreateTopics: false,
      });
      const sending = producer.send({ messages: encode(messages) });
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
