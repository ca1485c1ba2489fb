import type { RelayBatch, Store } from '../ports/store.ts';
import { CommitFrontier } from './frontier.ts';
import { relayMessage } from './kafka.ts';
import type { Publisher } from './kafka-client.ts';

/*
 * The outbox relay: every `events` row reaches Kafka at least once, in id order.
 *
 * The relay's position is one row (`relay_cursor`): every event up to its `last_id` has been published. One batch
 * is: read the rows after the cursor → publish them (all acknowledged, or the batch fails) → move the cursor to
 * the batch's last id. A crash between publishing and moving the cursor sends those rows again (same event ids:
 * consumers dedupe on them); a crash before publishing sends nothing. Marking costs one row per batch, not one
 * row version (and index entries) per event.
 *
 * Nothing is skipped although a cursor only moves forward: the cursor never passes a missing id until that id is
 * proved never to appear (its transaction rolled back), by the snapshot rule of frontier.ts. A row that commits
 * late (after a higher id was visible) holds the cursor, not the rows before it, until it arrives. The relay only
 * reads and moves its cursor: a workflow step never waits for it, or for Kafka.
 */

/** The store methods the relay needs (the store port; PGlite, PostgreSQL or the Data API). */
export type RelayStore = Pick<Store, 'readRelayBatch' | 'relayCursor' | 'advanceRelayCursor'>;

/** The cursor row of the Kafka relay. */
export const KAFKA_RELAY = 'kafka';

/** How a drain (one pass over the outbox) goes: batch size and when to stop early. */
export interface DrainOptions {
  /** Rows per batch (one produce request). */
  readonly batchSize: number;
  /** Epoch ms after which no further batch is read. */
  readonly deadline?: number;
  /** Asked before each further batch is read; true ends the drain after the batch in flight. */
  readonly stopping?: () => boolean;
  /** Told the size of each batch once the cursor is past it (counters that survive a drain ending in an error). */
  readonly onMarked?: (rows: number) => void;
  /**
   * The gaps this relay already knows to be final (keep one across drains: a new one only waits one more read
   * for them). @default a new one
   */
  readonly frontier?: CommitFrontier;
}

/** What a drain did: rows published and marked, in how many batches, and whether it stopped at an open gap. */
export interface DrainReport {
  readonly relayed: number;
  readonly batches: number;
  /** True when rows wait behind an id whose transaction may still commit: look again soon. */
  readonly heldAtGap: boolean;
}

/**
 * Relays batches until the outbox is empty (a batch comes back short), `deadline` passes, `stopping()` says so
 * or the next row waits behind an open gap; returns the rows published and marked.
 *
 * Pipelined over the store: while batch N is produced, batch N+1 is read (after N's last id) and the cursor is
 * moved past batch N-1. Produce calls themselves never overlap: the next one starts only after the previous one
 * is acknowledged, so a run's events reach its partition in outbox order even when a produce fails (the
 * idempotent producer of @platformatic/kafka has one request in flight and advances its sequence numbers only on
 * acknowledgement, so two concurrent sends could not be ordered anyway). The cursor passes a batch only after its
 * own produce was acknowledged, so at least once holds: a crash leaves at most the acknowledged batch whose
 * cursor move had not landed to be sent again.
 */
export async function drainOutbox(
  store: RelayStore,
  publisher: Publisher,
  options: DrainOptions,
): Promise<DrainReport> {
  const { batchSize } = options;
  const frontier = options.frontier ?? new CommitFrontier();
  const more = () =>
    !options.stopping?.() && (options.deadline === undefined || Date.now() < options.deadline);
  let relayed = 0;
  let batches = 0;
  let marking: Promise<void> | undefined;
  const mark = (lastId: number, rows: number) =>
    store.advanceRelayCursor(KAFKA_RELAY, lastId).then(() => {
      relayed += rows;
      batches++;
      options.onMarked?.(rows);
    });
  let cursor = await store.relayCursor(KAFKA_RELAY);
  let page: RelayBatch = await store.readRelayBatch(cursor, batchSize);
  let heldAtGap = false;
  try {
    for (;;) {
      const n = frontier.passable(cursor, {
        ids: page.events.map((e) => e.id),
        xmin: page.xmin,
        xmax: page.xmax,
      });
      heldAtGap = n < page.events.length;
      if (n === 0) break;
      const rows = n === page.events.length ? page.events : page.events.slice(0, n);
      const last = rows[rows.length - 1]!.id;
      const full = page.events.length === batchSize && !heldAtGap && more();
      const [sent, next] = await Promise.allSettled([
        publisher.publish(rows.map(relayMessage)),
        full ? store.readRelayBatch(last, batchSize) : Promise.resolve(undefined),
      ]);
      if (sent.status === 'rejected') throw sent.reason;
      if (next.status === 'rejected') throw next.reason;
      // The previous batch's cursor move has had this produce's whole round trip to finish.
      await marking;
      marking = mark(last, rows.length);
      // Handled here so a failed move is not an unhandled rejection while the next produce runs; it is still
      // thrown by the `await marking` after that produce (or in `finally`).
      marking.catch(() => undefined);
      cursor = last;
      if (!next.value) break;
      page = next.value;
    }
  } finally {
    // Whatever ended the drain, the batch already acknowledged is still marked (or its error surfaces).
    await marking;
  }
  return { relayed, batches, heldAtGap };
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

/** How soon a relay held at an open gap looks again (ms). */
export const GAP_POLL_MS = 10;

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
    const frontier = new CommitFrontier();
    while (!this.#stopping) {
      let wait = this.#o.pollMs;
      try {
        const report = await drainOutbox(this.#store, this.#publisher, {
          batchSize: this.#o.batchSize,
          stopping: () => this.#stopping,
          frontier,
          onMarked: (rows) => {
            this.stats.relayed += rows;
            this.stats.batches++;
          },
        });
        // Rows wait behind a transaction still running: it usually ends within milliseconds.
        if (report.heldAtGap) wait = Math.min(wait, GAP_POLL_MS);
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
