import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { NotFoundError, ValidationError } from '#shared/errors';
import { type EventRow, type Store, TERMINAL_STATUSES } from '#shared/ports/store';
import { EventHub, eventData, SubscriberOverflow } from './event-hub.ts';
import { ExecutionIdParamSchema } from './schemas.ts';

/*
 * Live progress over Server-Sent Events, read from the outbox (the same rows the Kafka relay publishes, in the
 * same order): works embedded with no broker, on PostgreSQL, and on the Data API. A stream subscribes to the
 * process's one outbox reader (event-hub.ts), then sends its backlog after `Last-Event-ID` from the store, then
 * what the hub hands it, dropping by sequence what it already sent: no gap and no repeat. `id:` = the outbox
 * sequence, `event:` = the type; the stream ends after the run's terminal event.
 */

/** How one stream keeps alive and protects itself, and how the hub behind it reads (event-hub.ts). */
export interface StreamOptions {
  /**
   * Wait between the hub's outbox reads while nothing new is there (ms). One read serves every stream.
   * @default 25; 100 on the Data API (each read is an HTTPS call)
   */
  readonly pollMs?: number;
  /** An SSE comment at least this often, so proxies keep an idle stream open (ms). @default 15000 */
  readonly heartbeatMs?: number;
  /**
   * A client that reads nothing fills the socket's buffers and then a write waits: after this long the
   * stream is cut (ms). @default 30000
   */
  readonly writeTimeoutMs?: number;
  /**
   * Serialised events a stream may have queued in the hub while its client does not read (bytes); past this it
   * is cut at once. The hub never waits for a stream, so a stuck client costs the others nothing. @default 1 MiB
   */
  readonly maxBufferedBytes?: number;
  /** Rows per backlog read. @default 200 */
  readonly pageSize?: number;
  /**
   * After the terminal event, how long the stream still waits for the run's trailing rows (the last step's
   * own completion and the transition charge commit just after it today) before it closes (ms). @default 1000
   */
  readonly settleMs?: number;
}

/** The options a stream runs with (the hub's own are given to it when it is made). */
export type FollowOptions = Required<
  Pick<StreamOptions, 'heartbeatMs' | 'writeTimeoutMs' | 'pageSize' | 'settleMs'>
>;

const TERMINAL_EVENTS: ReadonlySet<string> = new Set(TERMINAL_STATUSES.map((s) => `execution.${s}`));

/** True when this event ends its run's stream. */
export const isTerminalEvent = (type: string): boolean => TERMINAL_EVENTS.has(type);

/** The sequence to resume after: `Last-Event-ID` (what browsers send), else `?after=`, else 0. */
export function resumeAfter(lastEventId: string | undefined, after: string | undefined): number {
  for (const [name, value] of [
    ['Last-Event-ID', lastEventId],
    ['after', after],
  ] as const) {
    if (value === undefined) continue;
    if (!/^\d{1,15}$/.test(value.trim())) {
      throw new ValidationError(
        `${name}: must be an event sequence (a non-negative integer), got '${value}'`,
        [`${name}: must be an event sequence (a non-negative integer)`],
      );
    }
    return Number(value.trim());
  }
  return 0;
}

/** A stream's client did not take a write in time, or left. */
export class WriteTimeout extends Error {}

/** Writes, or throws WriteTimeout when the client has not taken the bytes within `ms`. */
export async function writeWithin(
  stream: SSEStreamingApi,
  ms: number,
  write: () => Promise<unknown>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      write(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new WriteTimeout('client not reading')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  if (stream.aborted) throw new WriteTimeout('client gone');
}

/**
 * Ends a stream whose client stopped reading. Ending it would wait for the client to read what is queued; the
 * socket is cut instead (the Node server passes its response as env.outgoing; on Lambda the stream is aborted
 * and the invocation ends).
 */
export function cutStream(c: Context, stream: SSEStreamingApi): void {
  const outgoing = (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing;
  if (outgoing) outgoing.destroy();
  else stream.abort();
}

/**
 * Follows one execution from `after` until its terminal event (and the rows that trail it) or until the
 * client leaves: backlog from the store, then the hub. Throws WriteTimeout or SubscriberOverflow when the
 * client stops reading; `onOverflow` is called the moment the hub gives up on it (the stream may be stuck in
 * a write then), so the caller can cut the socket at once.
 */
export async function followExecution(
  deps: { readonly store: Pick<Store, 'listEvents' | 'getExecution'>; readonly hub: EventHub },
  stream: SSEStreamingApi,
  executionId: string,
  after: number,
  o: FollowOptions,
  onOverflow?: () => void,
): Promise<void> {
  // Subscribed before the backlog is read, so nothing can fall between the two.
  const sub = await deps.hub.subscribe(executionId, onOverflow);
  // The backlog ends here and the hub hands over what follows. Past it the store may show a row above one that
  // has yet to commit (two writers of one run); sent from the backlog, it would make the stream drop the lower
  // one as already sent when the hub hands it over.
  const backlogUpTo = sub.upTo;
  // A client gone while the stream waits for events leaves the hub now, not at the next heartbeat.
  stream.onAbort(() => sub.close());
  try {
    let cursor = after;
    let lastWrite = Date.now();
    let closeAt: number | undefined;
    const write = (f: () => Promise<unknown>) =>
      writeWithin(stream, o.writeTimeoutMs, f).then(() => {
        lastWrite = Date.now();
      });
    const send = async (row: EventRow, data: string) => {
      if (row.id <= cursor) return;
      await write(() => stream.writeSSE({ id: String(row.id), event: row.type, data }));
      cursor = row.id;
      if (isTerminalEvent(row.type)) closeAt = Date.now() + o.settleMs;
    };
    // A run that already ended without its terminal event in what is left to send (resumed after it, with only
    // trailing rows after): nothing more will come once the backlog is out.
    const endedQuietly = async () =>
      closeAt === undefined &&
      TERMINAL_STATUSES.includes((await deps.store.getExecution(executionId))?.status ?? 'running');
    // Tells the browser how soon to reconnect when the connection drops.
    await write(() => stream.write(`retry: 1000\n\n`));
    let beyond = false;
    while (!beyond) {
      const rows = await deps.store.listEvents(executionId, cursor, o.pageSize);
      for (const row of rows) {
        beyond = row.id > backlogUpTo;
        if (beyond) break;
        await send(row, eventData(row));
      }
      if (rows.length < o.pageSize) break;
    }
    // Rows past the backlog's end are the hub's to hand over: the run's terminal event may be one of them.
    if (!beyond && (await endedQuietly())) closeAt = Date.now() + o.settleMs;
    while (!stream.aborted) {
      const now = Date.now();
      if (closeAt !== undefined && now >= closeAt) return;
      const untilHeartbeat = Math.max(0, o.heartbeatMs - (now - lastWrite));
      const events = await sub.next(
        closeAt === undefined ? untilHeartbeat : Math.min(closeAt - now, untilHeartbeat),
      );
      for (const { row, data } of events) await send(row, data);
      if (events.length === 0 && Date.now() - lastWrite >= o.heartbeatMs) {
        await write(() => stream.write(': keep-alive\n\n'));
        if (await endedQuietly()) closeAt = Date.now() + o.settleMs;
      }
    }
  } finally {
    sub.close();
  }
}

/** What the other stream routes share with the per-run one (workflow-stream.ts): one hub, the same limits. */
export interface StreamRoutes {
  /** The process's outbox reader, made on first use. */
  readonly hub: () => EventHub;
  readonly options: FollowOptions;
}

/**
 * `GET /executions/{id}/stream` (text/event-stream). The execution and `Last-Event-ID` are checked before the
 * stream opens, so a bad request is an ordinary 400/404 problem document.
 */
export function registerStreamRoutes(
  app: OpenAPIHono,
  deps: {
    readonly store: Store;
    readonly stream?: StreamOptions | undefined;
    /** The process's outbox reader for SSE. @default one made for this app over `store` */
    readonly eventHub?: EventHub | undefined;
  },
): StreamRoutes {
  const o: FollowOptions = {
    heartbeatMs: deps.stream?.heartbeatMs ?? 15_000,
    writeTimeoutMs: deps.stream?.writeTimeoutMs ?? 30_000,
    pageSize: deps.stream?.pageSize ?? 200,
    settleMs: deps.stream?.settleMs ?? 1_000,
  };
  // Made on the first stream: building the app (a Lambda cold start, openApiDocument) reads nothing.
  let hub = deps.eventHub;
  const hubOf = (store: Store) =>
    (hub ??= new EventHub(store, {
      pollMs: deps.stream?.pollMs ?? (store.kind === 'data-api' ? 100 : 25),
      maxBufferedBytes: deps.stream?.maxBufferedBytes,
    }));
  app.get('/executions/:id/stream', async (c: Context) => {
    const parsed = ExecutionIdParamSchema.safeParse({ id: c.req.param('id') });
    if (!parsed.success) throw new ValidationError('id: not an execution id', ['id: not an execution id']);
    const id = parsed.data.id;
    const after = resumeAfter(c.req.header('last-event-id'), c.req.query('after'));
    const execution = await deps.store.getExecution(id);
    if (!execution) throw new NotFoundError(`execution '${id}' does not exist`);
    // Resumed after the end: 204 is what tells an EventSource to stop reconnecting (a closed stream does not).
    if (
      TERMINAL_STATUSES.includes(execution.status) &&
      (await deps.store.listEvents(id, after, 1)).length === 0
    ) {
      return c.body(null, 204);
    }
    c.header('cache-control', 'no-cache, no-transform');
    // Tells nginx-style proxies not to buffer the stream.
    c.header('x-accel-buffering', 'no');
    const cut = (stream: SSEStreamingApi) => cutStream(c, stream);
    return streamSSE(
      c,
      async (stream) => {
        try {
          await followExecution({ store: deps.store, hub: hubOf(deps.store) }, stream, id, after, o, () =>
            cut(stream),
          );
        } catch (error) {
          if (!(error instanceof WriteTimeout || error instanceof SubscriberOverflow)) throw error;
          cut(stream);
        }
      },
      async (error) => {
        console.error(`SSE stream of ${id} failed`, error);
      },
    );
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/executions/{id}/stream',
    tags: ['executions'],
    summary: 'Live events of one execution (Server-Sent Events); resume with Last-Event-ID',
    request: { params: ExecutionIdParamSchema },
    responses: {
      200: {
        description:
          'text/event-stream: one SSE message per outbox event (id = sequence, event = type, data = the event as JSON), heartbeats as comments, closed after the terminal event and the rows that trail it; a reconnect after that is 204',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      },
      400: { description: 'Last-Event-ID (or after) is not an event sequence' },
      404: { description: 'No such execution' },
    },
  });
  return { hub: () => hubOf(deps.store), options: o };
}
