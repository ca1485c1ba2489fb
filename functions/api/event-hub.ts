import { CommitFrontier } from '#shared/events/frontier';
import { throttle } from '#shared/log-throttle';
import type { EventRow, OutboxPage, Store } from '#shared/ports/store';

/*
 * One outbox reader per process for every SSE stream it serves. Before this, each stream polled the outbox for
 * its own execution, so N streams cost N queries per poll interval and a stream saw an event only at its own
 * next poll. The hub reads every new event once (`id > cursor`, an index range scan on the primary key),
 * serialises it once, and hands it to the streams of its execution. One indexed read per interval whatever the
 * number of streams makes a short interval affordable (25 ms by default; 100 ms on the Data API, where each
 * read is an HTTPS call and a Lambda serves one stream anyway).
 *
 * A stream subscribes first and reads its backlog (after its Last-Event-ID) from the store second: the hub's
 * cursor when the subscription is made is at or below what that backlog read sees, so backlog + hub cover every
 * event, and the stream drops what it already sent by sequence (no gap, no repeat).
 *
 * A subscriber is never awaited: the hub pushes into its queue and moves on. A queue that grows past
 * `maxBufferedBytes` (its client stopped reading, so its stream stopped draining the queue) ends that
 * subscription alone; the stream then cuts its socket.
 *
 * Sequences are taken when a row is inserted but become visible when its transaction commits, so on a server
 * with concurrent writers (PostgreSQL, Aurora) a lower sequence can appear after a higher one. The hub does not
 * pass a gap until it fills or the snapshot of a read proves it never will (every transaction that could hold it
 * has ended: functions/shared/events/frontier.ts), however long that takes, so each stream gets its execution's
 * events in sequence order and none is skipped. A rolled-back insert costs one more read; PGlite, which runs one
 * statement at a time, passes its gaps at once.
 */

/** How the hub reads the outbox and bounds each subscriber. */
export interface EventHubOptions {
  /** Wait between outbox reads while nothing new is there (ms). @default 25 */
  readonly pollMs?: number | undefined;
  /** Rows per outbox read. @default 500 */
  readonly pageSize?: number | undefined;
  /**
   * Bytes of serialised events a subscriber may have waiting; past this it is cut off. @default 1 MiB
   */
  readonly maxBufferedBytes?: number | undefined;
}

/** An outbox row with its SSE `data:` line, serialised once for all of its subscribers. */
export interface HubEvent {
  readonly row: EventRow;
  readonly data: string;
}

/** Thrown by `Subscription.next` once the subscriber's queue overflowed and it was cut off. */
export class SubscriberOverflow extends Error {
  override readonly name = 'SubscriberOverflow';
}

/** One stream's share of the hub: the events of its execution, in sequence order, as they commit. */
export interface Subscription {
  /**
   * The events queued since the last call, waiting up to `waitMs` for one when none is queued ([] after
   * that). Throws SubscriberOverflow once the queue overflowed.
   */
  next(waitMs: number): Promise<HubEvent[]>;
  /** Leaves the hub (idempotent). */
  close(): void;
}

/** The event as `data:` (the same shape as GET /executions/{id}/events items, plus its execution). */
export function eventData(row: EventRow): string {
  return JSON.stringify({
    id: row.id,
    eventId: row.eventId,
    type: row.type,
    executionId: row.executionId,
    payload: row.payload,
    createdAt: row.createdAt.toISOString(),
  });
}

class Subscriber implements Subscription {
  queue: HubEvent[] = [];
  bytes = 0;
  overflowed = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly executionId: string,
    private readonly hub: EventHub,
    readonly onOverflow: (() => void) | undefined,
  ) {}

  push(event: HubEvent, limit: number): void {
    if (this.overflowed) return;
    this.bytes += event.data.length;
    if (this.bytes > limit) {
      this.overflowed = true;
      this.queue = [];
      this.hub.unsubscribe(this);
      this.onOverflow?.();
    } else {
      this.queue.push(event);
    }
    this.wake?.();
  }

  async next(waitMs: number): Promise<HubEvent[]> {
    if (this.queue.length === 0 && !this.overflowed) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        timer = setTimeout(resolve, waitMs);
      });
      clearTimeout(timer);
      this.wake = undefined;
    }
    if (this.overflowed)
      throw new SubscriberOverflow(`subscriber of ${this.executionId} fell too far behind`);
    const out = this.queue;
    this.queue = [];
    this.bytes = 0;
    return out;
  }

  close(): void {
    this.hub.unsubscribe(this);
    this.wake?.();
  }
}

/**
 * The process's one outbox reader for SSE: runs while it has subscribers, reads each new event once and
 * queues it for the streams following that event's execution.
 *
 * @example
 * const hub = new EventHub(store);
 * const sub = await hub.subscribe(executionId);
 * // read the backlog from the store, then: for (;;) for (const e of await sub.next(15_000)) send(e)
 */
export class EventHub {
  private readonly byExecution = new Map<string, Set<Subscriber>>();
  private count = 0;
  private cursor = 0;
  /** True from a start until the reader loop sees no subscriber (set and cleared synchronously). */
  private running = false;
  /** The reader loop of the last start; resolves when it has stopped. */
  private loop: Promise<void> | undefined;
  /** Resolves once the loop knows where to start (every subscribe waits for it). */
  private started: Promise<void> | undefined;
  private wakeReader: (() => void) | undefined;
  /** Which gaps in the sequence are final (a new one per start: the cursor restarts at the head). */
  private frontier = new CommitFrontier();
  private readonly o: Required<EventHubOptions>;
  /** Outbox reads made (for tests and the bench: one reader, whatever the number of streams). */
  reads = 0;
  private readonly warnReadFailed = throttle(10_000);

  constructor(
    private readonly store: Pick<Store, 'readOutbox' | 'lastEventId'>,
    options: EventHubOptions = {},
  ) {
    this.o = {
      pollMs: options.pollMs ?? 25,
      pageSize: options.pageSize ?? 500,
      maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    };
  }

  /** Streams subscribed now. */
  get subscribers(): number {
    return this.count;
  }

  /**
   * Follows one execution from the hub's current position. Read the backlog from the store after this
   * resolves, not before: then nothing falls between the two. `onOverflow` is called (once, synchronously)
   * when the subscriber is cut off for falling behind.
   */
  async subscribe(executionId: string, onOverflow?: () => void): Promise<Subscription> {
    const sub = new Subscriber(executionId, this, onOverflow);
    const set = this.byExecution.get(executionId) ?? new Set<Subscriber>();
    this.byExecution.set(executionId, set);
    set.add(sub);
    this.count++;
    if (!this.running) this.start();
    try {
      await this.started;
    } catch (error) {
      sub.close();
      throw error;
    }
    return sub;
  }

  /** @internal Called by a subscription leaving (or cut off). */
  unsubscribe(sub: Subscriber): void {
    const set = this.byExecution.get(sub.executionId);
    if (!set?.delete(sub)) return;
    this.count--;
    if (set.size === 0) this.byExecution.delete(sub.executionId);
    if (this.count === 0) this.wakeReader?.();
  }

  /** Waits for the reader to stop (it stops by itself once no one is subscribed). */
  async idle(): Promise<void> {
    await this.loop;
  }

  private start(): void {
    this.running = true;
    const started = this.store.lastEventId().then((head) => {
      this.cursor = head;
      this.frontier = new CommitFrontier();
    });
    this.started = started;
    this.loop = started
      .then(() => this.run())
      .catch(() => {
        // The subscribers waiting see the failure through subscribe(); the next one starts a new reader.
        this.running = false;
      });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.count === 0) {
        this.running = false;
        return;
      }
      let page: OutboxPage;
      try {
        this.reads++;
        page = await this.store.readOutbox(this.cursor, this.o.pageSize);
      } catch (error) {
        // A failed read (the database restarting, a Data API throttle) is retried at the next poll; streams
        // keep their heartbeats meanwhile. An outage fails every poll (40 a second): reported when it starts,
        // then at most every 10 s with the count held back, as the response cache's outages are.
        this.warnReadFailed((suppressed) =>
          console.error(
            `SSE hub: reading the outbox failed${suppressed > 0 ? ` (${suppressed} similar since the previous report)` : ''}`,
            error,
          ),
        );
        page = { rows: [], xmin: 0, xmax: 0 };
      }
      const passed = this.dispatch(page);
      if (this.count === 0) continue;
      if (passed && page.rows.length === this.o.pageSize) continue;
      await this.sleep(this.frontier.waiting ? Math.min(this.o.pollMs, 10) : this.o.pollMs);
    }
  }

  /** Queues rows in sequence order up to the first gap that may still fill; true when the cursor moved. */
  private dispatch(page: OutboxPage): boolean {
    const before = this.cursor;
    const rows = page.rows.filter((r) => r.id > this.cursor);
    const n = this.frontier.passable(this.cursor, {
      ids: rows.map((r) => r.id),
      xmin: page.xmin,
      xmax: page.xmax,
    });
    for (const row of rows.slice(0, n)) {
      this.cursor = row.id;
      const set = this.byExecution.get(row.executionId);
      if (!set) continue;
      const event: HubEvent = { row, data: eventData(row) };
      for (const sub of [...set]) sub.push(event, this.o.maxBufferedBytes);
    }
    return this.cursor !== before;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeReader = done;
    }).finally(() => {
      this.wakeReader = undefined;
    });
  }
}
