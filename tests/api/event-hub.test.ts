import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventHub, SubscriberOverflow, type Subscription } from '../../functions/api/event-hub.ts';
import type { EventRow } from '../../functions/shared/ports/store.ts';

/*
 * The SSE hub over an in-memory outbox whose rows become visible when the test "commits" them (the SQL of
 * readOutbox is covered by the stream tests on PGlite and the integration suite on PostgreSQL): one reader for every subscriber, gaps held in
 * order, and a subscriber that stops taking events cut off alone.
 */

/*
 * Transaction i takes sequence i (so a row's id is its transaction id): `begin(id)` is a writer whose transaction
 * is running (the row invisible, the snapshot's xmin held at it), `commit` makes the row visible and ends it,
 * `rollback` ends it with no row.
 */
function outbox() {
  const visible: EventRow[] = [];
  const running = new Set<number>();
  let taken = 0;
  let reads = 0;
  const row = (id: number, executionId: string, pad = ''): EventRow => ({
    id,
    eventId: `ev-${id}`,
    executionId,
    type: 'step.started',
    payload: { pad },
    createdAt: new Date(),
  });
  return {
    begin(id: number) {
      running.add(id);
      taken = Math.max(taken, id);
    },
    commit(id: number, executionId: string, pad = '') {
      running.delete(id);
      taken = Math.max(taken, id);
      visible.push(row(id, executionId, pad));
      visible.sort((a, b) => a.id - b.id);
    },
    rollback(id: number) {
      running.delete(id);
    },
    get reads() {
      return reads;
    },
    store: {
      readOutbox: async (after: number, limit: number) => {
        reads++;
        const rows = visible.filter((r) => r.id > after).slice(0, limit);
        if (rows.length === 0) return { rows, xmin: 0, xmax: 0 };
        return { rows, xmin: Math.min(taken + 1, ...running), xmax: taken + 1 };
      },
      outboxHead: async () => ({
        head: visible.at(-1)?.id ?? 0,
        xmin: Math.min(taken + 1, ...running),
        xmax: taken + 1,
      }),
    },
  };
}

const ids = async (sub: Subscription, n: number, within = 2_000): Promise<number[]> => {
  const got: number[] = [];
  const until = Date.now() + within;
  while (got.length < n && Date.now() < until) got.push(...(await sub.next(50)).map((e) => e.row.id));
  return got;
};

let open: Subscription[] = [];
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

describe('Class: EventHub', () => {
  it('serves every subscriber from one outbox read per poll, each with only its execution, in order', async () => {
    // Prepare: 50 subscribers over 5 executions, on an outbox that already holds 3 rows
    const o = outbox();
    for (let i = 1; i <= 3; i++) o.commit(i, 'run-0');
    const hub = new EventHub(o.store, { pollMs: 20 });
    open = await Promise.all(Array.from({ length: 50 }, (_, i) => hub.subscribe(`run-${i % 5}`)));
    const readsBefore = o.reads;

    // Act: two events committed per execution
    let id = 3;
    for (const round of [0, 1]) for (let e = 0; e < 5; e++) o.commit(++id, `run-${e}`, String(round));
    const t0 = Date.now();
    const got = await Promise.all(open.map((s) => ids(s, 2)));
    const elapsed = Date.now() - t0;

    // Assess: each got its execution's two new rows (not the 3 from before it subscribed), and the reads did
    // not multiply with the subscribers (one per poll interval at most, plus the one that found the rows)
    for (const [i, g] of got.entries()) expect(g).toEqual([4 + (i % 5), 9 + (i % 5)]);
    expect(hub.subscribers).toBe(50);
    expect(o.reads - readsBefore).toBeLessThanOrEqual(Math.ceil(elapsed / 20) + 2);
  });

  it('holds the rows above a sequence gap while its transaction runs, however long, so none is skipped or reordered', async () => {
    // Prepare: a hub, and a writer whose transaction took sequence 1 and has not committed
    const o = outbox();
    const hub = new EventHub(o.store, { pollMs: 10 });
    const sub = await hub.subscribe('run-a');
    open = [sub];
    o.begin(1);

    // Act: 2 commits, 1 stays uncommitted for 1.5 s (longer than the old 1 s gap timeout), then commits
    o.commit(2, 'run-a');
    const whileGap = await ids(sub, 1, 1_500);
    o.commit(1, 'run-a');
    const afterFill = await ids(sub, 2);

    // Assess
    expect(whileGap).toEqual([]);
    expect(afterFill).toEqual([1, 2]);
  });

  it('starts below no sequence that may still commit: a row under the head that commits as the first stream subscribes is in its backlog', async () => {
    // Prepare: a writer holding sequence 1 while sequence 2 (the head) is committed; the hub is not running
    const o = outbox();
    o.begin(1);
    o.commit(2, 'run-b');
    const hub = new EventHub(o.store, { pollMs: 10 });

    // Act: the first stream subscribes and, as a stream does, reads its backlog from the store as soon as it
    // has subscribed; sequence 1 commits 100 ms after the subscription was asked for
    const subscribed = hub.subscribe('run-a').then(async (sub) => {
      const { rows } = await o.store.readOutbox(0, 100);
      return { sub, backlog: rows.filter((r) => r.executionId === 'run-a').map((r) => r.id) };
    });
    await new Promise((r) => setTimeout(r, 100));
    o.commit(1, 'run-a');
    const { sub, backlog } = await subscribed;
    open = [sub];
    const live = await ids(sub, 1, 300);

    // Assess: row 1 reached the stream exactly once, through its backlog (the subscription waited for the
    // writer); the old hub started at the head (2) at once, so the backlog missed it and so did the hub
    expect([...backlog, ...live]).toEqual([1]);
    expect(backlog).toEqual([1]);
    expect(sub.upTo).toBe(2);
  });

  it('passes a gap that never fills (a rolled-back insert) as soon as its transaction has ended', async () => {
    // Prepare: a writer holding sequence 1, and sequence 2 committed above it
    const o = outbox();
    const hub = new EventHub(o.store, { pollMs: 10 });
    const sub = await hub.subscribe('run-a');
    open = [sub];
    o.begin(1);
    o.commit(2, 'run-a');
    const whileRunning = await ids(sub, 1, 200);

    // Act: the writer rolls back
    o.rollback(1);
    const after = await ids(sub, 1);

    // Assess: held while it ran, passed once it had ended
    expect(whileRunning).toEqual([]);
    expect(after).toEqual([2]);
  });

  it('cuts off a subscriber that stops taking events past its byte bound, and only that one', async () => {
    // Prepare: two subscribers of one run, a 4 KB bound; one never calls next()
    const o = outbox();
    const hub = new EventHub(o.store, { pollMs: 10, maxBufferedBytes: 4_000 });
    let overflowed = 0;
    const stuck = await hub.subscribe('run-a', () => overflowed++);
    const reader = await hub.subscribe('run-a');
    open = [stuck, reader];

    // Act: 20 events of ~1 KB each, committed a few at a time while the reader keeps up
    const got: number[] = [];
    for (let id = 1; id <= 20; id++) {
      o.commit(id, 'run-a', 'x'.repeat(1_000));
      if (id % 2 === 0) got.push(...(await reader.next(100)).map((e) => e.row.id));
    }
    got.push(...(await ids(reader, 20 - got.length)));

    // Assess: the stuck one was cut once and is out of the hub; the reader got all 20 in order
    expect(overflowed).toBe(1);
    await expect(stuck.next(10)).rejects.toBeInstanceOf(SubscriberOverflow);
    expect(hub.subscribers).toBe(1);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('stops reading when the last subscriber leaves, and starts again from the head for the next', async () => {
    const o = outbox();
    o.commit(1, 'run-a');
    const hub = new EventHub(o.store, { pollMs: 10 });
    const first = await hub.subscribe('run-a');
    first.close();
    await hub.idle();
    const reads = o.reads;
    o.commit(2, 'run-a');
    await new Promise((r) => setTimeout(r, 100));
    expect(o.reads).toBe(reads);

    const second = await hub.subscribe('run-a');
    open = [second];
    o.commit(3, 'run-a');
    expect(await ids(second, 1)).toEqual([3]);
  });

  it('reports an outbox that cannot be read once when the outage starts, not on every poll', async () => {
    // Prepare: an outbox whose reads all fail, polled every 5 ms
    let failedReads = 0;
    const hub = new EventHub(
      {
        readOutbox: async () => {
          failedReads++;
          throw new Error('database restarting');
        },
        outboxHead: async () => ({ head: 0, xmin: 1, xmax: 1 }),
      },
      { pollMs: 5 },
    );
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);

    // Act: a subscriber waits while the reader fails poll after poll
    try {
      const sub = await hub.subscribe('run-0');
      open = [sub];
      const until = Date.now() + 5_000;
      while (failedReads < 10 && Date.now() < until) await sub.next(20);

      // Assess
      expect(failedReads).toBeGreaterThanOrEqual(10);
      expect(errors).toHaveBeenCalledTimes(1);
      expect(String(errors.mock.calls[0]?.[0])).toContain('SSE hub: reading the outbox failed');
    } finally {
      errors.mockRestore();
    }
  });
});
