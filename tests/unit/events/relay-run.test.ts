import { describe, expect, it } from 'vitest';
import { type OutgoingMessage, parseEventMessage } from '#shared/events/kafka';
import type { Publisher } from '#shared/events/kafka-client';
import { oldestUnsentAge, runRelay } from '#shared/events/relay-run';
import { memoryOutbox as outbox } from '../../helpers/memory-outbox.ts';

const T0 = 1_800_000_000_000;

/** Rows committed at T0 + i seconds. */
const memoryOutbox = (n: number) =>
  outbox(n, (i) => ({ type: 'step.succeeded', createdAt: new Date(T0 + i * 1_000) }));

/** A publisher recording what it was sent; fails the calls whose 1-based number is in `failOn`. */
function recordingPublisher(failOn: ReadonlySet<number> = new Set()) {
  const sent: OutgoingMessage[] = [];
  let calls = 0;
  const publisher: Publisher = {
    async publish(messages) {
      calls++;
      if (failOn.has(calls)) throw new Error('broker down');
      sent.push(...messages);
    },
    close: async () => {},
  };
  return { sent, publisher };
}

/** A fake clock that advances only when the run sleeps. */
function fakeClock(start: number) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('runRelay (the relay Lambda per invocation)', () => {
  it('drains the outbox in full batches back to back, then polls until the deadline; lag 0 when drained', async () => {
    // GIVEN 25 rows and a run of 1.5 s polling every second
    const { rows, store, cursor } = memoryOutbox(25);
    const { sent, publisher } = recordingPublisher();
    const clock = fakeClock(T0 + 60_000);

    // WHEN it runs
    const report = await runRelay(
      { store, publisher, now: clock.now, sleep: clock.sleep },
      { batchSize: 10, pollMs: 1_000, deadline: clock.now() + 1_500 },
    );

    // THEN every row went out once, in id order, and is marked; the run slept only between polls (the last
    // wait cut to the deadline)
    expect(sent.map((m) => parseEventMessage(m.value).sequence)).toEqual(rows.map((r) => r.id));
    expect(cursor()).toBe(25);
    expect(report).toEqual({ relayed: 25, batches: 3, oldestUnsentAgeSeconds: 0 });
    expect(clock.sleeps).toEqual([1_000, 500]);
  });

  it('picks up rows committed while it polls', async () => {
    // GIVEN an empty outbox that gets 3 rows after the first poll
    const { rows, store, hold, commit } = memoryOutbox(3);
    for (const r of rows) hold(r.id);
    const { sent, publisher } = recordingPublisher();
    const clock = fakeClock(T0);
    const sleep = async (ms: number) => {
      await clock.sleep(ms);
      if (clock.sleeps.length === 1) for (const r of rows) commit(r.id);
    };

    // WHEN it runs for 2 s
    const report = await runRelay(
      { store, publisher, now: clock.now, sleep },
      { batchSize: 10, pollMs: 500, deadline: T0 + 2_000 },
    );

    // THEN the rows of the second poll were relayed
    expect(report.relayed).toBe(3);
    expect(sent).toHaveLength(3);
  });

  it('stops at the first failed batch, leaves its rows unsent, and reports the error with the lag', async () => {
    // GIVEN 25 rows and a broker that fails the second batch
    const { store, cursor } = memoryOutbox(25);
    const { sent, publisher } = recordingPublisher(new Set([2]));
    const clock = fakeClock(T0 + 100_000);

    // WHEN it runs
    const report = await runRelay(
      { store, publisher, now: clock.now, sleep: clock.sleep },
      { batchSize: 10, pollMs: 1_000, deadline: clock.now() + 30_000 },
    );

    // THEN the first batch is published and marked, the rest wait; the lag is the 11th row's age (100 - 10 s)
    expect(sent).toHaveLength(10);
    expect(cursor()).toBe(10);
    expect(report.relayed).toBe(10);
    expect((report.error as Error).message).toBe('broker down');
    expect(report.oldestUnsentAgeSeconds).toBe(90);
  });

  it('starts no batch after the deadline', async () => {
    // GIVEN a deadline already passed
    const { store, cursor } = memoryOutbox(5);
    const { sent, publisher } = recordingPublisher();
    const clock = fakeClock(T0 + 5_000);

    // WHEN it runs
    const report = await runRelay(
      { store, publisher, now: clock.now, sleep: clock.sleep },
      { batchSize: 10, pollMs: 1_000, deadline: T0 },
    );

    // THEN nothing is sent, and the lag says how old the oldest row is
    expect(sent).toEqual([]);
    expect(cursor()).toBe(0);
    expect(report).toEqual({ relayed: 0, batches: 0, oldestUnsentAgeSeconds: 5 });
  });
});

describe('oldestUnsentAge', () => {
  it('is the age of the oldest row after the cursor in whole seconds, 0 when the relay is caught up', async () => {
    const { store } = memoryOutbox(3);
    expect(await oldestUnsentAge(store, T0 + 7_400)).toBe(7);
    await store.advanceRelayCursor('kafka', 1);
    expect(await oldestUnsentAge(store, T0 + 7_400)).toBe(6);
    await store.advanceRelayCursor('kafka', 3);
    expect(await oldestUnsentAge(store, T0 + 7_400)).toBe(0);
  });
});
