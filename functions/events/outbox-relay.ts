import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Config } from '#shared/config';
import { METRICS } from '#shared/contracts/metrics';
import { ConfigError, EventBrokerUnavailableError } from '#shared/errors';
import type { Publisher } from '#shared/events/kafka-client';
import { type RelayRunReport, runRelay } from '#shared/events/relay-run';
import { logger, metrics } from '#shared/observability';
import { getConfig } from '#shared/wiring/config';
import { getRelayStore } from '#shared/wiring/relay-store';

/** Rows per produce request (one Data API read, one produce, one update per batch). */
export const RELAY_BATCH_SIZE = 500;
/** Wait between polls of an empty outbox: the usual commit-to-Kafka delay on AWS. */
export const RELAY_POLL_MS = 1_000;
/** Time kept back from the invocation's timeout: the batch in flight, the lag read, the metrics flush. */
export const RELAY_MARGIN_MS = 15_000;
/** How long one invocation relays at most; the schedule starts the next one every minute. */
export const RELAY_RUN_MS = 55_000;

// One producer per container: its connections and the IAM session survive between invocations.
let publisher: Publisher | undefined;

/**
 * The container's publisher, its Kafka client loaded on the first publish: an invocation that finds the
 * outbox empty (most cold starts) never evaluates the client's modules. Loaded once, then reused.
 */
function lazyPublisher(kafka: NonNullable<Config['kafka']>): Publisher {
  let loaded: Promise<Publisher> | undefined;
  const load = () => {
    loaded ??= import('#shared/events/kafka-client')
      .then(({ kafkaPublisher }) => kafkaPublisher(kafka))
      .catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
    return loaded;
  };
  return {
    publish: async (messages) => (await load()).publish(messages),
    close: async () => {
      if (loaded) await (await loaded).close();
    },
  };
}

async function relay(_event: unknown, context: Context): Promise<RelayRunReport> {
  const [store, config] = await Promise.all([getRelayStore(), getConfig()]);
  if (!config.kafka) throw new ConfigError('invalid configuration: KAFKA_BROKERS: required by the relay');
  publisher ??= lazyPublisher(config.kafka);
  const start = Date.now();
  const report = await runRelay(
    { store, publisher },
    {
      batchSize: RELAY_BATCH_SIZE,
      pollMs: RELAY_POLL_MS,
      deadline: start + Math.min(RELAY_RUN_MS, context.getRemainingTimeInMillis() - RELAY_MARGIN_MS),
    },
  );
  metrics.addMetric(METRICS.EventsRelayed, MetricUnit.Count, report.relayed);
  metrics.addMetric(METRICS.OutboxOldestUnsentAge, MetricUnit.Seconds, report.oldestUnsentAgeSeconds);
  logger.info('relayed outbox events', {
    relayed: report.relayed,
    batches: report.batches,
    oldestUnsentAgeSeconds: report.oldestUnsentAgeSeconds,
  });
  if (report.error !== undefined) {
    // The rows stay in the outbox; the failed invocation shows in the Errors metric and the lag alarm.
    throw report.error instanceof Error
      ? report.error
      : new EventBrokerUnavailableError(`relay failed: ${String(report.error)}`);
  }
  return report;
}

/**
 * Lambda: the outbox relay on AWS. EventBridge invokes it every minute; each invocation publishes unsent
 * outbox rows from Aurora to MSK Serverless (IAM auth) for up to {@link RELAY_RUN_MS}, polling every
 * {@link RELAY_POLL_MS}, and reports the oldest unsent row's age. Reserved concurrency 1 keeps it a single
 * relay, so each run's events reach their partition in outbox order.
 */
export const handler = middy<unknown, RelayRunReport, Error, Context>(relay)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
