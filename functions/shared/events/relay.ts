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

/** How a drain (one pass over the outbox) goes: batch size and when to stop early. */
export interface DrainOptions {
  /** Rows per batch (one produce request). */
  readonly batchSize: number;
  /** Epoch ms after which no further batch is read. */
  readonly deadline?: number;
  /** Asked before each further batch is read; true ends the drain after the batch in flight. */
  readonly stopping?: () => boolean;
  /** Told the size of each batch once it is marked (counters that survive a drain ending in an error). */
  readonly onMarked?: (rows: number) => void;
}

/** What a drain did: rows published and marked, and in how many batches. */
export interface DrainReport {
  readonly relayed: number;
  readonly batches: number;
}

/**
 * Relays batches until the outbox is empty (a batch comes back short), `deadline` passes or `stopping()`
 * says so; returns the rows published and marked.
 *
 * Pipelined over the store: while batch N is produced, batch N+1 is read (the unpublished rows after N's
 * last id, since N is not marked yet) and batch N-1 is marked. Produce calls themselves never overlap: the
 * next one starts only after the previous one is acknowledged, so a run's events reach its partition in
 * outbox order even when a produce fails (the idempotent producer of @platformatic/kafka has one request in
 * flight and advances its sequence numbers only on acknowledgement, so two concurrent sends could not be
 * ordered anyway). A row is marked only after its own produce was acknowledged, so at least once holds: a
 * crash leaves at most the acknowledged-but-unmarked batch to be sent again. The "after N's last id" read
 * only covers this pass: every drain starts again from the oldest unpublished row, so a row that committed
 * late with a lower id (two transactions racing) goes out on the next pass, not never.
 */
export async function drainOutbox(
  store: RelayStore,
  publisher: Publisher,
  options: DrainOptions,
): Promise<DrainReport> {
  const { batchSize } = options;
  const more = () =>
    !options.stopping?.() && (options.deadline === undefined || Date.now() < options.deadline);
  let relayed = 0;
  let batches = 0;
  let marking: Promise<void> | undefined;
  const mark = (ids: number[]) =>
    store.markEventsPublished(ids).then(() => {
      relayed += ids.length;
      batches++;
      options.onMarked?.(ids.length);
    });
  let rows = await store.listUnpublishedEvents(batchSize);
  try {
    while (rows.length > 0) {
      const full = rows.length === batchSize && more();
      const last = rows[rows.length - 1]!.id;
      const [sent, next] = await Promise.allSettled([
        publisher.publish(rows.map(toKafkaMessage)),
        full ? store.listUnpublishedEvents(batchSize, last) : Promise.resolve([]),
      ]);
      if (sent.status === 'rejected') throw sent.reason;
      if (next.status === 'rejected') throw next.reason;
      // The previous batch's mark has had this produce's whole round trip to finish.
      await marking;
      marking = mark(rows.map((r) => r.id));
      // Handled here so a failed mark is not an unhandled rejection while the next produce runs; it is still
      // thrown by the `await marking` after that produce (or in `finally`).
      marking.catch(() => undefined);
      rows = next.value;
    }
  } finally {
    // Whatever ended the drain, the batch already acknowledged is still marked (or its error surfaces).
    await marking;
  }
  return { relayed, batches };
}

/** Relays batches until the outbox is empty or `deadline` (epoch ms) passes; returns the rows published. */
export async function relayUntilEmpty(
  store: RelayStore,
  publisher: Publisher,
  options: { batchSize: number; deadline?: number },
): Promise<number> {
  return (await drainOutbox(store, publisher, options)).relayed;
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
        await drainOutbox(this.#store, this.#publisher, {
          batchSize: this.#o.batchSize,
          stopping: () => this.#stopping,
          onMarked: (rows) => {
            this.stats.relayed += rows;
            this.stats.batches++;
          },
        });
        failures = 0;
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
