import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEventMessage } from '#shared/events/kafka';
import type { Publisher } from '#shared/events/kafka-client';
import { OutboxRelay } from '#shared/events/relay';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';
import { EventHub, type Subscription } from '../../functions/api/event-hub.ts';
import { createTestDatabase } from '../helpers/database.ts';

/*
 * An outbox row whose transaction commits late, on real PostgreSQL: a writer (its own connection) inserts an event
 * and keeps its transaction open while later events commit and are read by the relay and the SSE hub. Neither may
 * pass the missing id while that transaction runs (the old hub gave up after 1 s and skipped it; a bare cursor
 * skips it at once), and both must pass it once the transaction rolled back.
 */

const URL_SET = Boolean(process.env.DATABASE_URL);

let store: Store;
let url: string;
let drop: () => Promise<void>;
let executionId: string;

beforeAll(async () => {
  if (!URL_SET) return;
  const db = await createTestDatabase();
  url = db.url!;
  drop = db.drop;
  const { openDb } = await import('#local/engine/db/client');
  store = createStore(await openDb({ kind: 'postgres', url, poolSize: 4 }));
  executionId = randomUUID();
  await store.createExecution({ id: executionId, workflow: 'late-commit', input: {} });
});

afterAll(async () => {
  if (!URL_SET) return;
  await store.close();
  await drop();
});

/** A writer on its own connection: inserts one event of `executionId` in a transaction it leaves open. */
async function openWriter(): Promise<{ id: number; commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  const { rows } = await client.query<{ id: string }>(
    `insert into events (execution_id, type, payload) values ($1, 'step.started', '{"late":true}') returning id`,
    [executionId],
  );
  const end = async (sql: string) => {
    await client.query(sql);
    await client.end();
  };
  return { id: Number(rows[0]!.id), commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, within = 10_000): Promise<void> {
  const end = Date.now() + within;
  while (!check() && Date.now() < end) await sleep(20);
}

describe.skipIf(!URL_SET)('an outbox row that commits after a higher id is visible (PostgreSQL)', () => {
  it('the relay holds its cursor at it while its transaction runs, then sends it first; it passes a rollback', async () => {
    // Prepare: a relay with a recording publisher (the SQL is what is under test), caught up with the outbox
    const sent: number[] = [];
    const publisher: Publisher = {
      async publish(messages) {
        sent.push(...messages.map((m) => parseEventMessage(m.value).sequence));
      },
      close: async () => {},
    };
    const relay = new OutboxRelay(store, publisher, { pollMs: 10, batchSize: 100 }).start();
    const head = (await store.listEvents(executionId, 0, 1_000)).at(-1)?.id ?? 0;
    await until(() => sent.includes(head));

    try {
      // Act: a writer takes the next id and holds its transaction open while two later events commit, for
      // 1.5 s; then it commits. A second writer does the same and rolls back.
      const late = await openWriter();
      await store.appendEvents(executionId, [
        { type: 'step.succeeded', payload: {} },
        { type: 'step.started', payload: {} },
      ]);
      await sleep(1_500);
      const whileOpen = [...sent];
      await late.commit();
      await until(() => sent.includes(late.id + 2));
      const rolledBack = await openWriter();
      await store.appendEvents(executionId, [{ type: 'step.succeeded', payload: {} }]);
      await sleep(300);
      const whileSecondOpen = [...sent];
      await rolledBack.rollback();
      await until(() => sent.includes(rolledBack.id + 1));

      // Assess: nothing at or after the late id went out while it was invisible; then it went out, before the
      // rows after it; the rolled-back id held the cursor only while its transaction ran
      expect(whileOpen.filter((id) => id >= late.id)).toEqual([]);
      expect(sent.filter((id) => id >= late.id && id <= late.id + 2)).toEqual([
        late.id,
        late.id + 1,
        late.id + 2,
      ]);
      expect(whileSecondOpen.filter((id) => id > rolledBack.id)).toEqual([]);
      expect(sent.filter((id) => id >= rolledBack.id)).toEqual([rolledBack.id + 1]);
      expect(await store.relayCursor('kafka')).toBe(rolledBack.id + 1);
    } finally {
      await relay.stop();
    }
  });

  it('the SSE hub delivers it, in sequence order, even when it commits more than 1 s late', async () => {
    // Prepare: one subscriber of the execution
    const hub = new EventHub(store, { pollMs: 10 });
    const sub: Subscription = await hub.subscribe(executionId);
    const got: number[] = [];
    const reader = (async () => {
      for (;;) {
        const batch = await sub.next(50).catch(() => undefined);
        if (!batch) return;
        got.push(...batch.map((e) => e.row.id));
        if (hub.subscribers === 0) return;
      }
    })();

    try {
      // Act: a writer takes the next id, two later events commit, the writer commits 1.5 s later
      const late = await openWriter();
      await store.appendEvents(executionId, [
        { type: 'step.succeeded', payload: {} },
        { type: 'step.started', payload: {} },
      ]);
      await sleep(1_500);
      const whileOpen = [...got];
      await late.commit();
      await until(() => got.includes(late.id + 2));

      // Assess: held while invisible, then all three in sequence order: the late one was not skipped
      expect(whileOpen).toEqual([]);
      expect(got).toEqual([late.id, late.id + 1, late.id + 2]);
    } finally {
      sub.close();
      await reader;
      await hub.idle();
    }
  });
});
