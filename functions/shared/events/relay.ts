import type { Store } from '../ports/store.ts';
import { toKafkaMessage } from './kafka.ts';
import type { Publisher } from './kafka-client.ts';

/*
 * The outbox relay: every `events` row reaches Kafka at least once, in id order per execution.
 *
 * One batch is: read the oldest unpublished rows → publish them (all acknowledged, or the batch fails) →
 * mark them published. A crash between publishing and marking sends those rows again on the next batch
 * (duplicates carry the same event id: consumers dedupe on it); a crash before publishing sends nothing.
 * Nothing is skipped: the work list is "published_at IS NULL", not a cursor, so a row that commits after a
 * later id (two transactions racing) is picked up by the next batch. The relay only reads and marks rows:
 * a workflow step never waits for it, or for Kafka.
 */

/** The two store methods the relay needs (the store port; PGlite, PostgreSQL or the Data API). */
export type RelayStore = Pick<Store, 'listUnpublishedEvents' | 'markEventsPublished'>;

/** Relays one batch; returns how many rows it published (0: the outbox is drained). */
export async function relayBatch(
  store: RelayStore,
  publisher: Publisher,
  batchSize: number,
): Promise<number> {
  const rows = await store.listUnpublishedEvents(batchSize);
  if (rows.length === 0) return 0;
  await publisher.publish(rows.map(toKafkaMessage));
  await store.markEventsPublished(rows.map((r) => r.id));
  return rows.length;
}

/** Relays batches until the outbox is empty or `deadline` (epoch ms) passes; returns the rows published. */
export async function relayUntilEmpty(
  store: RelayStore,
  publisher: Publisher,
  options: { batchSize: number; deadline?: number },
): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await relayBatch(store, publisher, options.batchSize);
    total += n;
    if (n < options.batchSize || (options.deadline !== undefined && Date.now() >= options.deadline))
      return total;
  }
}

export interface OutboxRelayOptions {
  /** Rows per batch (one produce request). @default 500 */
  readonly batchSize?: number;
  /** Wait between polls of an empty outbox (ms). @default 25 */
  readonly pollMs?: number;
  /** First wait after a failed batch; doubles up to `maxBackoffMs`. @default 200 */
  readonly backoffMs?: number;
  /** @default 5000 */
  readonly maxBackoffMs?: number;
  /** Told about every failed batch (the broker down, the store unavailable); the relay keeps going. */
  readonly onError?: (error: unknown, consecutiveFailures: number) => void;
}

/** Counters for logs, tests and the bench. */
export interface RelayStats {
  relayed: number;
  batches: number;
  failures: number;
}

/**
 * The relay as a long-running loop (the local runtime with KAFKA_BROKERS set): polls the outbox, relays
 * what it finds, backs off while Kafka or the store fails, and resumes where the outbox says it stopped.
 */
export class OutboxRelay {
  readonly stats: RelayStats = { relayed: 0, batches: 0, failures: 0 };
  readonly #store: RelayStore;
  readonly #publisher: Publisher;
  readonly #o: Required<Omit<OutboxRelayOptions, 'onError'>> & Pick<OutboxRelayOptions, 'onError'>;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(store: RelayStore, publisher: Publisher, options: OutboxRelayOptions = {}) {
    this.#store = store;
    this.#publisher = publisher;
    this.#o = {
      batchSize: options.batchSize ?? 500,
      pollMs: options.pollMs ?? 25,
      backoffMs: options.backoffMs ?? 200,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
      onError: options.onError,
    };
  }

  /** Starts the loop (idempotent). */
  start(): this {
    this.#stopping = false;
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this;
  }

  /** Cuts the current wait short: something was just committed. */
  wake(): void {
    this.#wake?.();
  }

  /** Stops after the batch in flight (which is published and marked, or left for the next start). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#running;
  }

  async #loop(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      let wait = this.#o.pollMs;
      try {
        const n = await relayBatch(this.#store, this.#publisher, this.#o.batchSize);
        if (n > 0) {
          this.stats.relayed += n;
          this.stats.batches++;
        }
        failures = 0;
        if (n === this.#o.batchSize) wait = 0;
      } catch (error) {
        failures++;
        this.stats.failures++;
        this.#o.onError?.(error, failures);
        wait = Math.min(this.#o.backoffMs * 2 ** (failures - 1), this.#o.maxBackoffMs);
      }
      if (wait > 0 && !this.#stopping) await this.#sleep(wait);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }
}
