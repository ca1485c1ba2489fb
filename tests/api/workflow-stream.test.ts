import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '#shared/events/catalogue';
import { startExecution } from '#shared/executions';
import type { EventRow } from '#shared/ports/store';
import { createApp } from '../../functions/api/app.ts';
import { localFetch } from '../../infra/local/cli/api-client.ts';
import { followWorkflowStream, type StreamedEvent } from '../../infra/local/cli/watch-command.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

/*
 * GET /stream?workflow=<name> with a real SSE client (the `eventsource` package, WHATWG EventSource) over the
 * API app served by @hono/node-server, on the embedded runtime running real workflows side by side.
 */

let local: LocalRuntime;
let server: ServerType;
let base: string;

async function serveApp(app: { fetch: (r: Request, env?: object) => Response | Promise<Response> }) {
  return new Promise<{ server: ServerType; base: string }>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({ server: s, base: `http://127.0.0.1:${info.port}` }),
    );
  });
}

async function closeServer(s: ServerType) {
  (s as import('node:http').Server).closeAllConnections();
  await new Promise((r) => s.close(r));
}

beforeAll(async () => {
  local = await startLocal();
  ({ server, base } = await serveApp(
    createApp({
      store: local.runtime.store,
      engine: local.engine,
      stream: { pollMs: 20, heartbeatMs: 200, writeTimeoutMs: 2_000 },
    }),
  ));
});
afterAll(async () => {
  await closeServer(server);
  await stopLocal(local);
});

async function start(workflow: 'agent-loop' | 'hello', n: number): Promise<string> {
  const input =
    workflow === 'hello' ? { name: `run ${n}` } : { goal: `workflow stream ${n}`, model: TEST_MODEL };
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow, input, budgetMicros: null },
  );
  return execution.id;
}

interface Got {
  id: number;
  type: string;
  executionId: string;
}

/**
 * A live EventSource on GET /stream?workflow=: outbox events and position messages, as they arrive; with
 * `stopAfter`, the client drops the stream itself on that event.
 */
function watch(workflow: string, lastEventId?: number, at = base, stopAfter?: number) {
  const events: Got[] = [];
  const positions: number[] = [];
  let failure: Error | undefined;
  const es = new EventSource(`${at}/stream?workflow=${encodeURIComponent(workflow)}`, {
    fetch: (url, init) => {
      const headers = new Headers(init.headers as ConstructorParameters<typeof Headers>[0]);
      if (lastEventId !== undefined && !headers.has('last-event-id'))
        headers.set('last-event-id', String(lastEventId));
      return fetch(url, { ...init, headers });
    },
  });
  for (const type of EVENT_TYPES) {
    es.addEventListener(type, (e) => {
      // Events parsed from the chunk that carried the last one wanted are not the client's any more.
      if (stopAfter !== undefined && events.length >= stopAfter) return;
      const data = JSON.parse(e.data) as { executionId: string };
      events.push({ id: Number(e.lastEventId), type, executionId: data.executionId });
      if (events.length === stopAfter) es.close();
    });
  }
  es.addEventListener('position', (e) => positions.push(Number(e.lastEventId)));
  es.onerror = (e) => {
    if (es.readyState === EventSource.CLOSED) failure = new Error(`stream failed: ${e.code} ${e.message}`);
  };
  /** Resolves once `done()` holds (checked every 20 ms), rejects after `ms`. */
  const until = async (done: () => boolean, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (failure) throw failure;
      if (Date.now() > deadline) throw new Error(`timed out with ${events.length} events`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { es, events, positions, until };
}

/** Every outbox row after `after`, oldest first. */
async function outboxAfter(after: number): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for (;;) {
    const { rows: page } = await local.runtime.store.readOutbox(rows.at(-1)?.id ?? after, 500);
    rows.push(...page);
    if (page.length < 500) return rows;
  }
}

describe('GET /stream?workflow= (SSE)', () => {
  it('streams every event of every run of one workflow, runs started after it opened included, and nothing of another workflow', async () => {
    // GIVEN a client following `hello` from now (it has been told where it starts)
    const hello = watch('hello');
    await hello.until(() => hello.positions.length > 0);
    const opened = hello.positions[0]!;

    // WHEN three runs of hello and three of agent-loop run at the same time
    const ids = await Promise.all([1, 2, 3].flatMap((n) => [start('hello', n), start('agent-loop', n)]));
    await local.orchestrator.drain();
    const rows = await outboxAfter(opened);
    const helloRuns = new Set(ids.filter((id) => id.startsWith('hello-')));
    const expected = rows.filter((r) => helloRuns.has(r.executionId));
    await hello.until(() => (hello.events.at(-1)?.id ?? 0) >= expected.at(-1)!.id);
    // (a beat more: anything extra, a repeat or another workflow's event, would arrive by then)
    await new Promise((r) => setTimeout(r, 300));
    hello.es.close();

    // THEN it saw exactly the hello runs' rows, in sequence order, each once
    expect(ids.filter((id) => id.startsWith('agent-loop-'))).toHaveLength(3);
    expect(rows.some((r) => !helloRuns.has(r.executionId))).toBe(true);
    expect(hello.events.map((e) => e.id)).toEqual(expected.map((r) => r.id));
    expect(hello.events.map((e) => e.type)).toEqual(expected.map((r) => r.type));
    expect(new Set(hello.events.map((e) => e.executionId))).toEqual(helloRuns);
  });

  it('resumes with Last-Event-ID after a reconnect in the middle of a run: no gap, no repeat, the run started meanwhile included', async () => {
    // GIVEN a client of agent-loop that drops after 3 events of a running run
    const first = watch('agent-loop', undefined, base, 3);
    await first.until(() => first.positions.length > 0);
    const opened = first.positions[0]!;
    const running = await start('agent-loop', 10);
    await first.until(() => first.events.length >= 3);
    const before = [...first.events];

    // WHEN another run starts while it is away, and it reconnects with the last id it saw
    const startedMeanwhile = await start('agent-loop', 11);
    const second = watch('agent-loop', before.at(-1)!.id);
    await local.orchestrator.drain();
    const expected = (await outboxAfter(opened)).filter(
      (r) => r.executionId === running || r.executionId === startedMeanwhile,
    );
    await second.until(() => (second.events.at(-1)?.id ?? 0) >= expected.at(-1)!.id);
    await new Promise((r) => setTimeout(r, 300));
    second.es.close();

    // THEN the two halves are both runs' whole outbox, each event once, in order
    expect(before.map((e) => e.executionId)).toEqual([running, running, running]);
    expect([...before, ...second.events].map((e) => e.id)).toEqual(expected.map((r) => r.id));
    expect(new Set(second.events.map((e) => e.executionId))).toEqual(new Set([running, startedMeanwhile]));
  });

  it('moves a quiet workflow’s client past other workflows’ events with position messages, so a reconnect resumes from there', async () => {
    // GIVEN a client of hello while only agent-loop runs
    const quiet = watch('hello');
    await quiet.until(() => quiet.positions.length > 0);
    await start('agent-loop', 20);
    await local.orchestrator.drain();
    const last = (await outboxAfter(0)).at(-1)!.id;

    // WHEN heartbeats pass
    await quiet.until(() => (quiet.positions.at(-1) ?? 0) >= last);
    quiet.es.close();

    // THEN it was told it has seen everything up to the agent-loop run's last event, and got none of its events
    expect(quiet.events).toEqual([]);
    expect(quiet.positions.at(-1)).toBe(last);
    // and a reconnect from that position gets the next hello run only
    const resumed = watch('hello', quiet.positions.at(-1)!);
    const next = await start('hello', 21);
    await local.orchestrator.drain();
    const expected = (await outboxAfter(last)).filter((r) => r.executionId === next);
    await resumed.until(() => (resumed.events.at(-1)?.id ?? 0) >= expected.at(-1)!.id);
    resumed.es.close();
    expect(resumed.events.map((e) => e.id)).toEqual(expected.map((r) => r.id));
  });

  it('sends heartbeats while nothing commits, and does not close', async () => {
    const ac = new AbortController();
    const res = await fetch(`${base}/stream?workflow=hello`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const until = Date.now() + 3_000;
    while ((text.match(/: keep-alive/g)?.length ?? 0) < 2 && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(text).toMatch(/^retry: 1000\n\n/);
    expect(text).toContain('event: position');
    expect(text.match(/: keep-alive/g)?.length).toBe(2);
  });

  it('answers bad input as problem documents: no workflow 400, unknown workflow 404, a Last-Event-ID that is not a sequence 400', async () => {
    const missing = await fetch(`${base}/stream`);
    const empty = await fetch(`${base}/stream?workflow=`);
    const unknown = await fetch(`${base}/stream?workflow=no-such-workflow`);
    const badId = await fetch(`${base}/stream?workflow=hello`, { headers: { 'last-event-id': 'abc' } });
    const badAfter = await fetch(`${base}/stream?workflow=hello&after=-1`);

    expect(missing.status).toBe(400);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(((await missing.json()) as { detail: string }).detail).toMatch(/workflow: required/);
    expect(empty.status).toBe(400);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { detail: string }).detail).toMatch(/no-such-workflow/);
    expect(badId.status).toBe(400);
    expect(((await badId.json()) as { detail: string }).detail).toMatch(/Last-Event-ID/);
    expect(badAfter.status).toBe(400);
  });

  it('cuts off a client that stops reading once its queue passes the byte bound, without hurting another stream of the workflow', async () => {
    // GIVEN a server whose streams may queue only 64 KB in the hub (and would wait 60 s on a blocked write), a raw
    // client of agent-loop that reads nothing, and an EventSource client of agent-loop that reads
    const app = createApp({
      store: local.runtime.store,
      engine: local.engine,
      stream: { pollMs: 20, heartbeatMs: 60_000, writeTimeoutMs: 60_000, maxBufferedBytes: 64 * 1024 },
    });
    const own = await serveApp(app);
    const serverSide: import('node:net').Socket[] = [];
    own.server.on('connection', (sock: import('node:net').Socket) => serverSide.push(sock));
    const port = Number(new URL(own.base).port);
    const slow = connect(port, '127.0.0.1');
    slow.pause();
    await new Promise((r) => slow.once('connect', r));
    slow.write(`GET /stream?workflow=agent-loop HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    const stuck = serverSide[0]!;
    const cut = new Promise<number>((r) => stuck.once('close', () => r(Date.now())));
    const { execution } = await local.runtime.store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    const reader = watch('agent-loop', undefined, own.base);
    await reader.until(() => reader.positions.length > 0);

    // WHEN the workflow commits 24 MB of events
    const t0 = Date.now();
    const pad = 'x'.repeat(8_000);
    for (let i = 0; i < 30; i++) {
      await local.runtime.store.appendEvents(
        execution.id,
        Array.from({ length: 100 }, () => ({ type: 'llm.called' as const, payload: { pad } })),
      );
    }

    // THEN the stuck client is cut within seconds, not after the 60 s write timeout
    const cutAt = await Promise.race([cut, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
    expect(cutAt).toBeGreaterThan(0);
    expect(stuck.destroyed).toBe(true);
    const rows = (await outboxAfter(reader.positions[0]!)).filter((r) => r.executionId === execution.id);
    await reader.until(() => reader.events.length >= rows.length);
    reader.es.close();
    expect(reader.events.map((e) => e.id)).toEqual(rows.map((r) => r.id));
    console.log(`stuck workflow-stream client cut ${cutAt - t0} ms after its workflow started committing`);
    slow.destroy();
    await closeServer(own.server);
  });

  it('wflo watch follows a workflow through the API next to it (localFetch), and reports an unknown workflow with the problem', async () => {
    // GIVEN `wflo watch --workflow hello`'s follower on this server, as it follows a `wflo dev`
    const got: StreamedEvent[] = [];
    const stop = new AbortController();
    const opened = (await local.runtime.store.outboxHead()).head;
    // (from a known position: how soon it connects does not matter, as with `wflo watch --after`)
    const following = followWorkflowStream(localFetch(base), 'hello', {
      after: opened,
      signal: stop.signal,
      onEvent: (e) => got.push(e),
    });

    // WHEN a hello run and an agent-loop run run
    const helloRun = await start('hello', 30);
    await start('agent-loop', 30);
    await local.orchestrator.drain();
    const expected = (await outboxAfter(opened)).filter((r) => r.executionId === helloRun);
    const deadline = Date.now() + 30_000;
    while ((got.at(-1)?.id ?? 0) < expected.at(-1)!.id && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await following;

    // THEN it got the hello run's events, with their payloads, and nothing else; an unknown workflow is refused
    expect(got.map((e) => e.id)).toEqual(expected.map((r) => r.id));
    expect(got.find((e) => e.type === 'execution.started')?.executionId).toBe(helloRun);
    await expect(
      followWorkflowStream(localFetch(base), 'no-such-workflow', {
        signal: new AbortController().signal,
        onEvent: () => undefined,
      }),
    ).rejects.toThrow(/HTTP 404: workflow 'no-such-workflow' does not exist/);
  });
});
