import { CommitFrontier } from './frontier.ts';
import type { Publisher } from './kafka-client.ts';
import { drainOutbox, GAP_POLL_MS, KAFKA_RELAY, type RelayStore } from './relay.ts';

/*
 * The relay as one bounded run: what the relay Lambda does per invocation. EventBridge starts it every minute
 * and it keeps polling the outbox until just before its deadline, so on AWS the relay is (almost) always on
 * with one instance (reserved concurrency 1: one relay, so per-run order holds), and an event waits at most
 * about one poll interval after it commits. Plain function over injected deps: the unit tests use fakes, the
 * Kafka suite runs it against a real broker.
 */

/** How a run polls and when it stops. */
export interface RelayRunOptions {
  /** Rows per produce request. */
  readonly batchSize: number;
  /** Wait between polls of an empty outbox (ms). */
  readonly pollMs: number;
  /** Epoch ms after which no new batch starts. */
  readonly deadline: number;
}

/** What one run did, for logs and metrics. */
export interface RelayRunReport {
  /** Rows published and marked. */
  readonly relayed: number;
  readonly batches: number;
  /** Age of the oldest row still unsent when the run ended (0: the outbox is drained). */
  readonly oldestUnsentAgeSeconds: number;
  /** The failure that ended the run early (the broker or the store), if any; the rows stay in the outbox. */
  readonly error?: unknown;
}

/** Clock and sleep, injectable so unit tests run without waiting. */
export interface RelayRunDeps {
  readonly store: RelayStore;
  readonly publisher: Publisher;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Relays outbox rows until `deadline`: full batches back to back, then a poll every `pollMs`. A failed batch
 * ends the run (the next scheduled run starts again where the outbox says; nothing is skipped) and is
 * returned in `error` together with the lag, so the caller can still publish the lag metric before failing.
 */
export async function runRelay(deps: RelayRunDeps, options: RelayRunOptions): Promise<RelayRunReport> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  let relayed = 0;
  let batches = 0;
  let error: unknown;
  let heldAtGap = false;
  const frontier = new CommitFrontier();
  while (now() < options.deadline) {
    try {
      // Full batches back to back (pipelined: the next read and the last mark overlap each produce) until a
      // batch comes back short or the deadline passes.
      ({ heldAtGap } = await drainOutbox(deps.store, deps.publisher, {
        batchSize: options.batchSize,
        frontier,
        stopping: () => now() >= options.deadline,
        onMarked: (rows) => {
          relayed += rows;
          batches++;
        },
      }));
    } catch (e) {
      error = e;
      break;
    }
    // Held behind a transaction still running (it usually ends within milliseconds): look again soon.
    const wait = Math.min(heldAtGap ? GAP_POLL_MS : options.pollMs, options.deadline - now());
    if (wait > 0) await sleep(wait);
  }
  let oldestUnsentAgeSeconds = 0;
  try {
    oldestUnsentAgeSeconds = await oldestUnsentAge(deps.store, now());
  } catch (e) {
    error ??= e;
  }
  return { relayed, batches, oldestUnsentAgeSeconds, ...(error === undefined ? {} : { error }) };
}

/** Seconds since the oldest outbox row after the relay's cursor committed (0 when there is none): the relay-lag metric. */
export async function oldestUnsentAge(store: RelayStore, nowMs: number): Promise<number> {
  const {
    events: [oldest],
  } = await store.readRelayBatch(await store.relayCursor(KAFKA_RELAY), 1);
  if (!oldest) return 0;
  return Math.max(0, Math.round((nowMs - oldest.createdAtMs) / 1000));
}
