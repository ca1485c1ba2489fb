import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/events/catalogue';
import { startExecution } from '#shared/executions';
import { createApp } from '../../functions/api/app.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

/*
 * GET /executions/{id}/stream with a real SSE client (the `eventsource` package, WHATWG EventSource) over
 * the API app served by @hono/node-server, on the embedded runtime running real workflows.
 */

let local: LocalRuntime;
let server: ServerType;
let base: string;
/** Per-execution outbox reads made by the app (each stream's backlog; the hub reads with readOutbox). */
let perStreamReads = 0;

beforeAll(async () => {
  local = await startLocal();
  const store = local.runtime.store;
  const app = createApp({
    store: {
      ...store,
      listEvents: (...args) => {
        perStreamReads++;
        return store.listEvents(...args);
      },
    },
    engine: local.engine,
    stream: { pollMs: 20, heartbeatMs: 200, writeTimeoutMs: 1_000, settleMs: 300 },
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
});
afterAll(async () => {
  (server as import('node:http').Server).closeAllConnections();
  await new Promise((r) => server.close(r));
  await stopLocal(local);
});

async function startRun(goal = 'stream test'): Promise<string> {
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow: 'agent-loop', input: { goal, model: TEST_MODEL }, budgetMicros: null },
  );
  return execution.id;
}

interface Got {
  id: number;
  type: string;
  at: number;
}

/**
 * Follows a stream with EventSource until the server ends it for good (it closes after the terminal event;
 * the client's automatic reconnect with Last-Event-ID then gets 204, which closes the EventSource), or until
 * `stopAfter` events, when the client drops it itself.
 */
function follow(id: string, options: { lastEventId?: number; stopAfter?: number } = {}): Promise<Got[]> {
  const got: Got[] = [];
  return new Promise((resolve, reject) => {
    const es = new EventSource(`${base}/executions/${id}/stream`, {
      fetch: (url, init) => {
        // The first connection resumes from the id given; EventSource's own reconnects carry the id it saw
        // last (a second Last-Event-ID header would be joined to the first: "a, b").
        const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
        if (options.lastEventId !== undefined && !headers.has('last-event-id')) {
          headers.set('last-event-id', String(options.lastEventId));
        }
        return fetch(url, { ...init, headers });
      },
    });
    const timer = setTimeout(() => {
      es.close();
      reject(new Error(`stream of ${id} did not end (got ${got.length})`));
    }, 60_000);
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (e) => {
        got.push({ id: Number(e.lastEventId), type, at: Date.now() });
        if (got.length === options.stopAfter) {
          clearTimeout(timer);
          es.close();
          resolve(got);
        }
      });
    }
    es.onerror = (e) => {
      if (es.readyState !== EventSource.CLOSED) return;
      clearTimeout(timer);
      // 204 after the end: the stream is complete.
      if (e.code === 204) resolve(got);
      else reject(new Error(`stream of ${id} failed: ${String(e.message ?? e.code)}`));
    };
  });
}

describe('GET /executions/{id}/stream (SSE)', () => {
  it('streams every event of a run as it commits, id = sequence, and ends after the terminal event (then 204)', async () => {
    // GIVEN a run started, and a client following it from the start
    const id = await startRun();
    const streamed = follow(id);

    // WHEN the run ends
    const got = await streamed;
    await local.orchestrator.drain();

    // THEN the client saw exactly the outbox, in order, with the terminal event among the last
    const rows = await local.runtime.store.listEvents(id, 0, 1000);
    expect(got.map((g) => g.id)).toEqual(rows.map((r) => r.id));
    expect(got.map((g) => g.type)).toEqual(rows.map((r) => r.type));
    expect(got.map((g) => g.type)).toContain('execution.succeeded');
  });

  it('resumes with Last-Event-ID after a reconnect in the middle of a run: no gap, no repeat', async () => {
    // GIVEN a client that drops after 3 events of a running run
    const id = await startRun('resume');
    const before = await follow(id, { stopAfter: 3 });

    // WHEN it reconnects with the last id it saw
    const after = await follow(id, { lastEventId: before.at(-1)!.id });
    await local.orchestrator.drain();

    // THEN the two halves are the whole outbox, each event once
    const rows = await local.runtime.store.listEvents(id, 0, 1000);
    expect([...before, ...after].map((g) => g.id)).toEqual(rows.map((r) => r.id));
  });

  it('after the terminal event a reconnect gets 204 (EventSource stops), not the stream again', async () => {
    const id = await startRun('ended');
    const got = await follow(id);
    const res = await fetch(`${base}/executions/${id}/stream`, {
      headers: { 'last-event-id': String(got.at(-1)!.id) },
    });
    expect(res.status).toBe(204);
  });

  it('refuses a Last-Event-ID that is not a sequence (400) and an unknown execution (404)', async () => {
    const id = await startRun('bad input');
    await local.orchestrator.drain();
    const bad = await fetch(`${base}/executions/${id}/stream`, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/Last-Event-ID/);
    const negative = await fetch(`${base}/executions/${id}/stream?after=-1`);
    expect(negative.status).toBe(400);
    const missing = await fetch(`${base}/executions/no-such-run/stream`);
    expect(missing.status).toBe(404);
  });

  it('sends heartbeats while a run is quiet', async () => {
    // GIVEN an execution whose run never progresses (a row with no engine behind it)
    const { execution } = await local.runtime.store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    const ac = new AbortController();
    const res = await fetch(`${base}/executions/${execution.id}/stream`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 3_000;
    while (!text.includes(': keep-alive') && Date.now() < until) {
      text += new TextDecoder().decode((await reader.read()).value);
    }
    ac.abort();
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(text).toContain(': keep-alive');
  });

  it('serves 50 concurrent streams from one outbox reader, 10 of them reconnecting with Last-Event-ID mid-run', async () => {
    // GIVEN 50 runs started at once, each followed by its own client; every fifth client drops after 3 events
    // and reconnects with the last id it saw
    const readsBefore = perStreamReads;
    const t0 = Date.now();
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => startRun(`fan-out ${i}`)));
    const all = await Promise.all(
      ids.map(async (id, i) => {
        if (i % 5 !== 0) return follow(id);
        const before = await follow(id, { stopAfter: 3 });
        return [...before, ...(await follow(id, { lastEventId: before.at(-1)!.id }))];
      }),
    );
    await local.orchestrator.drain();

    // THEN every client got its run's outbox exactly, each event once, across the reconnects
    for (const [i, id] of ids.entries()) {
      const rows = await local.runtime.store.listEvents(id, 0, 1000);
      expect(all[i]!.map((g) => g.id)).toEqual(rows.map((r) => r.id));
    }
    const lag: number[] = [];
    for (const [i, id] of ids.entries()) {
      const rows = await local.runtime.store.listEvents(id, 0, 1000);
      for (const [j, g] of all[i]!.entries()) lag.push(g.at - rows[j]!.createdAt.getTime());
    }
    lag.sort((a, b) => a - b);
    const first = all.map((g) => g[0]!.at - t0).sort((a, b) => a - b);
    console.log(
      `50 streams: commit→client p50 ${lag[Math.floor(lag.length / 2)]} ms, p99 ${lag[Math.floor(lag.length * 0.99)]} ms; first event p50 ${first[25]} ms after start; per-execution reads ${perStreamReads - readsBefore}`,
    );
  });

  it('50 streams waiting on quiet runs cost no per-stream reads; one commit to each reaches all 50', async () => {
    // GIVEN 50 quiet executions (rows with no engine behind them), each followed by a raw client
    const runs = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const { execution } = await local.runtime.store.createExecution({
          id: randomUUID(),
          workflow: 'agent-loop',
          input: {},
        });
        return execution.id;
      }),
    );
    // (its own server: generous write and heartbeat limits, so 50 clients on a loaded machine are not cut)
    const store = local.runtime.store;
    let reads = 0;
    const app = createApp({
      store: {
        ...store,
        listEvents: (...args) => {
          reads++;
          return store.listEvents(...args);
        },
      },
      engine: local.engine,
      stream: { pollMs: 20, heartbeatMs: 60_000, writeTimeoutMs: 60_000 },
    });
    const { own, ownBase } = await new Promise<{ own: ServerType; ownBase: string }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve({ own: s, ownBase: `http://127.0.0.1:${info.port}` }),
      );
    });
    const aborts = new AbortController();
    const seen = runs.map(async (id) => {
      const res = await fetch(`${ownBase}/executions/${id}/stream`, { signal: aborts.signal });
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: step.started'))
        text += new TextDecoder().decode((await reader.read()).value);
      return text;
    });
    // every stream has sent its backlog and waits
    const until = Date.now() + 30_000;
    while (reads < 50 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));

    // WHEN a second passes, then one event is committed to each run
    const readsBefore = reads;
    await new Promise((r) => setTimeout(r, 1_000));
    const readsWhileQuiet = reads - readsBefore;
    await Promise.all(
      runs.map((id) => local.runtime.store.appendEvents(id, [{ type: 'step.started', payload: {} }])),
    );
    const texts = await Promise.all(seen);
    aborts.abort();
    (own as import('node:http').Server).closeAllConnections();
    await new Promise((r) => own.close(r));

    // THEN nothing read per stream while they waited (each polled its run every 20 ms before the hub), and
    // every stream got its event
    expect(readsWhileQuiet).toBe(0);
    expect(texts.every((t) => t.includes('event: step.started'))).toBe(true);
  });

  it('cuts off a client that never reads, without hurting another stream', async () => {
    // GIVEN a run with ~8 MB of events, a raw client that sends the request and never reads
    const { execution } = await local.runtime.store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    const pad = 'x'.repeat(8_000);
    for (let i = 0; i < 10; i++) {
      await local.runtime.store.appendEvents(
        execution.id,
        Array.from({ length: 100 }, () => ({ type: 'llm.called' as const, payload: { pad } })),
      );
    }
    const url = new URL(base);
    const serverSide = new Map<number, import('node:net').Socket>();
    server.on('connection', (sock: import('node:net').Socket) => serverSide.set(sock.remotePort ?? -1, sock));
    const slow = connect(Number(url.port), '127.0.0.1');
    slow.pause();
    await new Promise((r) => slow.once('connect', r));
    slow.write(`GET /executions/${execution.id}/stream HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    const stuck = serverSide.get(slow.localPort ?? -2);
    expect(stuck).toBeDefined();
    const cut = new Promise<number>((r) => stuck!.once('close', () => r(Date.now())));
    const t0 = Date.now();

    // WHEN another client follows a run meanwhile
    const other = await follow(await startRun('neighbour'));

    // THEN the other stream completed, and the stuck one is cut by the server after the write timeout
    expect(other.map((g) => g.type)).toContain('execution.succeeded');
    const cutAt = await Promise.race([cut, new Promise<number>((r) => setTimeout(() => r(-1), 15_000))]);
    expect(cutAt).toBeGreaterThan(0);
    expect(stuck!.destroyed).toBe(true);
    console.log(`stuck client cut ${cutAt - t0} ms after the neighbour started`);
    slow.destroy();
  });

  it('cuts off a live client that stops reading once its queue in the hub passes the byte bound, long before the write timeout', async () => {
    // GIVEN a second server whose streams wait 60 s on a blocked write but may queue only 64 KB in the hub,
    // and a raw client of a quiet run that reads nothing
    const app = createApp({
      store: local.runtime.store,
      engine: local.engine,
      stream: { pollMs: 20, heartbeatMs: 60_000, writeTimeoutMs: 60_000, maxBufferedBytes: 64 * 1024 },
    });
    const serverSide: import('node:net').Socket[] = [];
    const { second, port } = await new Promise<{ second: ServerType; port: number }>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
        resolve({ second: s, port: info.port }),
      );
    });
    second.on('connection', (sock: import('node:net').Socket) => serverSide.push(sock));
    const { execution } = await local.runtime.store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    const slow = connect(port, '127.0.0.1');
    slow.pause();
    await new Promise((r) => slow.once('connect', r));
    slow.write(`GET /executions/${execution.id}/stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    const stuck = serverSide[0]!;
    const cut = new Promise<number>((r) => stuck.once('close', () => r(Date.now())));

    // WHEN the run commits 24 MB of events while it is followed (more than the socket buffers take), and another
    // client follows a run meanwhile
    const t0 = Date.now();
    const pad = 'x'.repeat(8_000);
    const neighbour = follow(await startRun('neighbour of a stuck client'));
    for (let i = 0; i < 30; i++) {
      await local.runtime.store.appendEvents(
        execution.id,
        Array.from({ length: 100 }, () => ({ type: 'llm.called' as const, payload: { pad } })),
      );
    }

    // THEN the stuck client is cut within seconds, not after the 60 s write timeout, and the other stream completed
    const cutAt = await Promise.race([cut, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
    expect(cutAt).toBeGreaterThan(0);
    expect(stuck.destroyed).toBe(true);
    expect((await neighbour).map((g) => g.type)).toContain('execution.succeeded');
    console.log(`stuck live client cut ${cutAt - t0} ms after its run started committing`);
    slow.destroy();
    (second as import('node:http').Server).closeAllConnections();
    await new Promise((r) => second.close(r));
  });
});
