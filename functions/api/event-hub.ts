import { setTimeout as sleep } from 'node:timers/promises';
import { CommitFrontier } from '#shared/events/frontier';
import { throttle } from '#shared/log-throttle';
import type { EventRow, OutboxPage, Store } from '#shared/ports/store';
import { ExecutionWorkflows } from './execution-workflows.ts';

/*
 * One outbox reader per process for every SSE stream it serves. Before this, each stream polled the outbox for
 * its own execution, so N streams cost N queries per poll interval and a stream saw an event only at its own
 * next poll. The hub reads every new event once (`id > cursor`, an index range scan on the primary key),
 * serialises it once, and hands it to the streams of its execution. One indexed read per interval whatever the
 * number of streams makes a short interval affordable (25 ms by default; 100 ms on the Data API, where each
 * read is an HTTPS call and a Lambda serves one stream anyway).
 *
 * A stream subscribes first and reads its backlog (after its Last-Event-ID, up to the subscription's `upTo`) from
 * the store second. `upTo` is the hub's cursor when the subscription was made, and below the cursor nothing can
 * still commit, so the backlog read sees every event up to it and the hub hands over every event after it: no
 * gap, and the stream drops by sequence what it already sent (no repeat). That holds from the hub's start too:
 * it does not start at the newest sequence a read sees (a lower one whose transaction was still running then
 * could commit just after the first stream read its backlog, below the cursor, and reach no one) but at the
 * newest one of a snapshot once a later snapshot proves every transaction running during it has ended
 * (functions/shared/events/frontier.ts's rule); the first subscription waits for that, usually milliseconds.
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
 *
 * A stream may also follow every run of one workflow (`GET /stream?workflow=`). Rows carry no workflow, so
 * while such a stream is open the hub looks up the workflow of each execution it has not seen before (one read
 * per execution, kept in a bounded cache: execution-workflows.ts) before it hands a page of rows out.
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
  /**
   * Where workflow subscriptions learn each row's workflow. @default a cache over the store's getExecution,
   * when the store has it (without either, subscribeWorkflow throws)
   */
  readonly executionWorkflows?: ExecutionWorkflows | undefined;
}

/** How often a starting hub looks whether the transactions running at its first read have ended (ms). */
const START_POLL_MS = 5;

/** An outbox row with its SSE `data:` line, serialised once for all of its subscribers. */
export interface HubEvent {
  readonly row: EventRow;
  readonly data: string;
}

/** Thrown by `Subscription.next` once the subscriber's queue overflowed and it was cut off. */
export class SubscriberOverflow extends Error {
  override readonly name = 'SubscriberOverflow';
}

/**
 * One stream's share of the hub: the events of its execution (or of every run of its workflow), in sequence
 * order, as they commit.
 */
export interface Subscription {
  /**
   * The events queued since the last call, waiting up to `waitMs` for one when none is queued ([] after
   * that). Throws SubscriberOverflow once the queue overflowed.
   */
  next(waitMs: number): Promise<HubEvent[]>;
  /**
   * The hub's position when `next` last returned (before the first call: when the subscription was made, where
   * the stream's backlog read ends). Every event of this subscription with a sequence at or below it was in
   * what `next` returned then or before, or is visible in the store. A stream that has sent those may tell its
   * client to resume after it (the workflow stream does, so a quiet workflow's client does not resume from far
   * back).
   */
  readonly upTo: number;
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
  upTo = 0;
  private wake: (() => void) | undefined;

  constructor(
    /** The execution id or workflow name followed, and the hub's index of subscribers by that key. */
    readonly key: string,
    readonly index: Map<string, Set<Subscriber>>,
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
    if (this.overflowed) throw new SubscriberOverflow(`subscriber of ${this.key} fell too far behind`);
    const out = this.queue;
    this.queue = [];
    this.bytes = 0;
    // Taken in the same turn as the queue: nothing can be dispatched in between.
    this.upTo = this.hub.position;
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
  private readonly byWorkflow = new Map<string, Set<Subscriber>>();
  /** Each execution's workflow, for the workflow subscriptions; undefined when the store cannot tell. */
  readonly executionWorkflows: ExecutionWorkflows | undefined;
  private count = 0;
  private cursor = 0;
  /** True from a start until the reader loop sees no subscriber (set and cleared synchronously). */
  private running = false;
  /** The reader loop of the last start; resolves when it has stopped. */
  private loop: Promise<void> | undefined;
  /** Resolves once the loop knows where to start (every subscribe waits for it). */
  private started: Promise<void> | undefined;
  private wakeReader: (() => void) | undefined;
  /** Which gaps in the sequence are final (a new one per start: the cursor restarts at the proven head). */
  private frontier = new CommitFrontier();
  private readonly o: Required<Omit<EventHubOptions, 'executionWorkflows'>>;
  /** Outbox reads made (for tests and the bench: one reader, whatever the number of streams). */
  reads = 0;
  private readonly warnReadFailed = throttle(10_000);

  constructor(
    private readonly store: Pick<Store, 'readOutbox' | 'outboxHead'> & Partial<Pick<Store, 'getExecution'>>,
    options: EventHubOptions = {},
  ) {
    const { executionWorkflows, ...o } = options;
    this.o = {
      pollMs: o.pollMs ?? 25,
      pageSize: o.pageSize ?? 500,
      maxBufferedBytes: o.maxBufferedBytes ?? 1024 * 1024,
    };
    this.executionWorkflows =
      executionWorkflows ??
      (store.getExecution ? new ExecutionWorkflows(store as Pick<Store, 'getExecution'>) : undefined);
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
    return this.add(this.byExecution, executionId, onOverflow);
  }

  /**
   * Follows every run of one workflow (those started later too) from the hub's current position, as
   * `subscribe` does for one execution: read the backlog after this resolves.
   */
  async subscribeWorkflow(workflow: string, onOverflow?: () => void): Promise<Subscription> {
    if (!this.executionWorkflows) {
      throw new Error('this EventHub cannot tell executions’ workflows: give it a store with getExecution');
    }
    return this.add(this.byWorkflow, workflow, onOverflow);
  }

  /**
   * Every event with a sequence at or below this has been handed to the subscribers it is for (or passed as a
   * gap that never filled): a stream whose queue is empty has sent all of its events up to here.
   */
  get position(): number {
    return this.cursor;
  }

  private async add(
    index: Map<string, Set<Subscriber>>,
    key: string,
    onOverflow: (() => void) | undefined,
  ): Promise<Subscription> {
    const sub = new Subscriber(key, index, this, onOverflow);
    const set = index.get(key) ?? new Set<Subscriber>();
    index.set(key, set);
    set.add(sub);
    this.count++;
    if (!this.running) this.start();
    try {
      await this.started;
    } catch (error) {
      sub.close();
      throw error;
    }
    // Where its backlog read ends: every event after it is handed to it from now on (or already was).
    sub.upTo = this.position;
    return sub;
  }

  /** @internal Called by a subscription leaving (or cut off). */
  unsubscribe(sub: Subscriber): void {
    const set = sub.index.get(sub.key);
    if (!set?.delete(sub)) return;
    this.count--;
    if (set.size === 0) sub.index.delete(sub.key);
    if (this.count === 0) this.wakeReader?.();
  }

  /** Waits for the reader to stop (it stops by itself once no one is subscribed). */
  async idle(): Promise<void> {
    await this.loop;
  }

  private start(): void {
    this.running = true;
    const started = this.provenHead().then((head) => {
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

  /**
   * The newest sequence below which nothing can still commit. A read's head may have a lower sequence still
   * invisible: taken before the head was (so before the read, by a transaction below the read's xmax: the
   * outbox id default takes the transaction id first), whose transaction is running. Once a later read's xmin
   * reaches that xmax, every such transaction has ended: that sequence is visible by then, or never will be.
   * Nothing running (PGlite, an idle database): at once.
   */
  private async provenHead(): Promise<number> {
    const first = await this.store.outboxHead();
    for (let seen = first; seen.xmin < first.xmax; seen = await this.store.outboxHead()) {
      await sleep(START_POLL_MS);
    }
    return first.head;
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
        // A failed lookup is retried with the same rows at the next poll, as a failed read is.
        if (this.byWorkflow.size > 0)
          await this.executionWorkflows?.resolve(page.rows.map((r) => r.executionId));
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
      this.deliver(row);
    }
    return this.cursor !== before;
  }

  /** Queues a row for the streams of its execution and those of its workflow (serialised once for all). */
  private deliver(row: EventRow): void {
    const ofRun = this.byExecution.get(row.executionId);
    const workflow = this.byWorkflow.size > 0 ? this.executionWorkflows?.cached(row.executionId) : undefined;
    const ofWorkflow = workflow === undefined ? undefined : this.byWorkflow.get(workflow);
    if (!ofRun && !ofWorkflow) return;
    const event: HubEvent = { row, data: eventData(row) };
    for (const set of [ofRun, ofWorkflow]) {
      for (const sub of set ? [...set] : []) sub.push(event, this.o.maxBufferedBytes);
    }
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
