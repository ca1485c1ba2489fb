import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';
import { createApp } from '../../functions/api/app.ts';
import { createTestDatabase } from '../helpers/database.ts';

/*
 * The SSE streams' start position on real PostgreSQL. An outbox row whose transaction is still running when a
 * stream opens, below a higher id that is already visible, must still reach the stream when it commits: the old
 * hub started its cursor at the newest visible id (so a row below it committing just after the first stream
 * read its backlog reached no one), and a workflow stream opened without Last-Event-ID started at that head too
 * (dropping the late row as already passed).
 */

const URL_SET = Boolean(process.env.DATABASE_URL);

let store: Store;
let url: string;
let drop: () => Promise<void>;

beforeAll(async () => {
  if (!URL_SET) return;
  const db = await createTestDatabase();
  url = db.url!;
  drop = db.drop;
  const { openDb } = await import('#local/engine/db/client');
  store = createStore(await openDb({ kind: 'postgres', url, poolSize: 4 }));
});

afterAll(async () => {
  if (!URL_SET) return;
  await store.close();
  await drop();
});

async function newRun(workflow: string): Promise<string> {
  const id = randomUUID();
  await store.createExecution({ id, workflow, input: {} });
  return id;
}

/** A writer on its own connection: inserts one event of `executionId` in a transaction it leaves open. */
async function openWriter(executionId: string): Promise<{ id: number; commit(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  const { rows } = await client.query<{ id: string }>(
    `insert into events (execution_id, type, payload) values ($1, 'step.started', '{"late":true}') returning id`,
    [executionId],
  );
  return {
    id: Number(rows[0]!.id),
    commit: async () => {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server over a new app (so a new SSE hub: not running until its first stream). */
async function startServer(): Promise<{ base: string; close(): Promise<void> }> {
  const engine = new Proxy(
    {},
    {
      get: (_, name) =>
        name === 'listWorkflows'
          ? async () => [{ name: 'late-wf' }, { name: 'other-wf' }]
          : () => Promise.reject(new Error('no engine in this test')),
    },
  ) as WorkflowEngine;
  const app = createApp({ store, engine, stream: { pollMs: 10 } });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({
        base: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      }),
    );
  });
}

/** Reads an SSE response in the background: the ids of its outbox events (position messages left out). */
function collect(path: string, base: string) {
  const ids: number[] = [];
  const aborts = new AbortController();
  const opened = fetch(`${base}${path}`, { signal: aborts.signal });
  const reading = (async () => {
    const res = await opened;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += decoder.decode(value, { stream: true });
      const blocks = text.split('\n\n');
      text = blocks.pop() ?? '';
      for (const block of blocks) {
        const id = /^id: (\d+)$/m.exec(block)?.[1];
        const event = /^event: (.+)$/m.exec(block)?.[1];
        if (id !== undefined && event !== 'position') ids.push(Number(id));
      }
    }
  })();
  return {
    ids,
    opened,
    async close() {
      aborts.abort();
      await reading;
    },
  };
}

async function until(check: () => boolean, within = 5_000): Promise<void> {
  const end = Date.now() + within;
  while (!check() && Date.now() < end) await sleep(20);
}

describe.skipIf(!URL_SET)('SSE streams opened while a lower outbox row is uncommitted (PostgreSQL)', () => {
  it('the first stream of a new hub gets a row below the head that commits just after it opened', async () => {
    // Prepare: a run whose next event's transaction is open, and a higher id (another run's) already committed
    const run = await newRun('late-wf');
    const other = await newRun('other-wf');
    const late = await openWriter(run);
    await store.appendEvents(other, [{ type: 'step.started', payload: {} }]);
    const server = await startServer();
    const stream = collect(`/executions/${run}/stream`, server.base);
    try {
      // Act: the stream opens (the hub's first), and the writer commits 300 ms later
      await stream.opened;
      await sleep(300);
      await late.commit();
      await until(() => stream.ids.includes(late.id));

      // Assess: the late row reached the stream once, in sequence order with the run's other events
      expect(stream.ids.filter((id) => id === late.id)).toEqual([late.id]);
      expect(stream.ids).toEqual([...stream.ids].sort((a, b) => a - b));
    } finally {
      await stream.close();
      await server.close();
    }
  });

  it('a workflow stream opened without Last-Event-ID gets a row of the workflow below the head that commits after it opened', async () => {
    // Prepare: a hub already running (one run's stream open), then a run of the workflow whose next event's
    // transaction is open, and a higher id (a run of another workflow) committed above it
    const server = await startServer();
    const watcher = collect(`/executions/${await newRun('other-wf')}/stream`, server.base);
    await watcher.opened;
    const run = await newRun('late-wf');
    const other = await newRun('other-wf');
    const late = await openWriter(run);
    await store.appendEvents(other, [{ type: 'step.started', payload: {} }]);
    const stream = collect('/stream?workflow=late-wf', server.base);
    try {
      // Act: the workflow stream opens without Last-Event-ID; the writer commits 300 ms later
      await stream.opened;
      await sleep(300);
      await late.commit();
      await until(() => stream.ids.includes(late.id));

      // Assess: the late row (it committed after the stream opened) reached the stream once
      expect(stream.ids).toEqual([late.id]);
    } finally {
      await stream.close();
      await watcher.close();
      await server.close();
    }
  });
});
