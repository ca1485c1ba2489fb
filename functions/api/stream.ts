import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { NotFoundError, ValidationError } from '#shared/errors';
import { type EventRow, type Store, TERMINAL_STATUSES } from '#shared/ports/store';
import { ExecutionIdParamSchema } from './schemas.ts';

/*
 * Live progress over Server-Sent Events, read straight from the outbox (the same rows the Kafka relay
 * publishes, in the same order): works embedded with no broker, on PostgreSQL, and on the Data API. Each
 * event goes out as it is found (`id:` = its outbox sequence, `event:` = its type); a reconnect with
 * `Last-Event-ID` resumes after that sequence with no gap and no repeat; the stream ends after the run's
 * terminal event.
 */

/** How one stream polls, keeps alive and protects itself. */
export interface StreamOptions {
  /** Wait between outbox reads while nothing new is there (ms). @default 100 */
  readonly pollMs?: number;
  /** An SSE comment at least this often, so proxies keep an idle stream open (ms). @default 15000 */
  readonly heartbeatMs?: number;
  /**
   * A client that reads nothing fills the socket's buffers and then a write waits: after this long the
   * stream is cut (ms). Each stream has its own loop, so a stuck one costs the others nothing. @default 30000
   */
  readonly writeTimeoutMs?: number;
  /** Rows per outbox read. @default 200 */
  readonly pageSize?: number;
  /**
   * After the terminal event, how long the stream still waits for the run's trailing rows (the last step's
   * own completion and the transition charge commit just after it today) before it closes (ms). @default 1000
   */
  readonly settleMs?: number;
}

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

/** The event as `data:` (the same shape as GET /executions/{id}/events items). */
function eventData(row: EventRow): string {
  return JSON.stringify({
    id: row.id,
    eventId: row.eventId,
    type: row.type,
    executionId: row.executionId,
    payload: row.payload,
    createdAt: row.createdAt.toISOString(),
  });
}

class WriteTimeout extends Error {}

/** Writes, or throws WriteTimeout when the client has not taken the bytes within `ms`. */
async function writeWithin(
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

/** Follows one execution's outbox from `after` until its terminal event or the client leaves. */
export async function followExecution(
  store: Pick<Store, 'listEvents' | 'getExecution'>,
  stream: SSEStreamingApi,
  executionId: string,
  after: number,
  o: Required<StreamOptions>,
): Promise<void> {
  let cursor = after;
  let lastWrite = Date.now();
  let closeAt: number | undefined;
  const write = (f: () => Promise<unknown>) =>
    writeWithin(stream, o.writeTimeoutMs, f).then(() => {
      lastWrite = Date.now();
    });
  // Tells the browser how soon to reconnect when the connection drops.
  await write(() => stream.write(`retry: 1000\n\n`));
  while (!stream.aborted) {
    const rows = await store.listEvents(executionId, cursor, o.pageSize);
    for (const row of rows) {
      await write(() => stream.writeSSE({ id: String(row.id), event: row.type, data: eventData(row) }));
      cursor = row.id;
      if (isTerminalEvent(row.type)) closeAt = Date.now() + o.settleMs;
    }
    if (rows.length === o.pageSize) continue;
    if (closeAt !== undefined) {
      if (rows.length === 0 && Date.now() >= closeAt) return;
    } else if (rows.length === 0) {
      // Resumed after the terminal event (or the run ended without one): nothing more will come.
      const execution = await store.getExecution(executionId);
      if (execution && TERMINAL_STATUSES.includes(execution.status)) {
        const tail = await store.listEvents(executionId, cursor, o.pageSize);
        if (tail.length === 0) return;
        continue;
      }
    }
    if (Date.now() - lastWrite >= o.heartbeatMs) await write(() => stream.write(': keep-alive\n\n'));
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}

/**
 * `GET /executions/{id}/stream` (text/event-stream). The execution and `Last-Event-ID` are checked before the
 * stream opens, so a bad request is an ordinary 400/404 problem document.
 */
export function registerStreamRoutes(
  app: OpenAPIHono,
  deps: { readonly store: Store; readonly stream?: StreamOptions | undefined },
): void {
  const o: Required<StreamOptions> = {
    pollMs: deps.stream?.pollMs ?? 100,
    heartbeatMs: deps.stream?.heartbeatMs ?? 15_000,
    writeTimeoutMs: deps.stream?.writeTimeoutMs ?? 30_000,
    pageSize: deps.stream?.pageSize ?? 200,
    settleMs: deps.stream?.settleMs ?? 1_000,
  };
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
    return streamSSE(
      c,
      async (stream) => {
        try {
          await followExecution(deps.store, stream, id, after, o);
        } catch (error) {
          if (!(error instanceof WriteTimeout)) throw error;
          // Ending the stream would wait for the client to read what is queued; the socket is cut instead
          // (the Node server passes its response as env.outgoing; on Lambda the invocation simply ends).
          (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
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
}
