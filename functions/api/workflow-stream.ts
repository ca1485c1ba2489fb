import { setTimeout } from 'node:timers/promises';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { NotFoundError, ValidationError } from '#shared/errors';
import { CommitFrontier } from '#shared/events/frontier';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { EventRow, Store } from '#shared/ports/store';
import { type EventHub, eventData, SubscriberOverflow } from './event-hub.ts';
import { requestSchema } from './schemas.ts';
import {
  cutStream,
  type FollowOptions,
  resumeAfter,
  type StreamRoutes,
  WriteTimeout,
  writeWithin,
} from './stream.ts';

/*
 * `GET /stream?workflow=<name>`: every event of every run of one workflow, runs started later included, as the
 * events commit. Same wire format and guarantees as the per-run stream (stream.ts): `id:` = the outbox
 * sequence, `event:` = the type, resume with `Last-Event-ID` with no gap and no repeat, heartbeats, a client
 * that stops reading cut off. It never ends by itself: runs keep starting.
 *
 * Without `Last-Event-ID` (or `after`) it starts at the hub's position when it subscribed (nothing below it can
 * still commit; not the newest sequence visible, which a lower one may yet commit under): what commits from now
 * on. Replaying a workflow's whole history would read the entire outbox (rows carry no workflow;
 * `GET /executions?workflow=` and `/executions/{id}/events` are the way to read the past).
 *
 * Because a workflow may be quiet for a long time while other workflows commit, the stream also tells its
 * client how far it has looked: a `position` message (`id:` the sequence up to which every event of this
 * workflow has been sent, data `{"position":n}`) when the stream opens and, in place of a comment, at a
 * heartbeat when it moved. An EventSource keeps that id as its Last-Event-ID, so the reconnect that API
 * Gateway's 15-minute limit forces resumes from there instead of from the client's last event of the workflow
 * (or, with none yet, from the head at the reconnect, which would drop what committed in between).
 *
 * `workflow` is required. A stream of every workflow's events would hand any caller every run of every team on
 * the deployment and cost each stream every event; consumers that want everything read the Kafka topic with a
 * consumer group (docs/events.md).
 */

/** The SSE event type of the position messages (not an outbox event type). */
export const POSITION_EVENT = 'position';

const WorkflowStreamQuerySchema = requestSchema(() =>
  z.object({
    workflow: z
      .string()
      .min(1)
      .openapi({
        param: { name: 'workflow', in: 'query' },
        description: 'The workflow whose runs to follow (GET /workflows lists them)',
        example: 'agent-loop',
      }),
    after: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional()
      .openapi({
        param: { name: 'after', in: 'query' },
        description: 'Resume after this event sequence, as Last-Event-ID does (the header wins)',
      }),
  }),
);

/** Wait before the backlog reads again while a gap in the sequence may still fill (ms). */
const BACKLOG_GAP_POLL_MS = 25;

/**
 * Follows every run of `workflow` until the client leaves: the backlog after `after` (none when undefined:
 * the stream starts at the hub's proven position), then what the hub hands it. Throws WriteTimeout or
 * SubscriberOverflow when the client stops reading; `onOverflow` is called the moment the hub gives up on it.
 */
export async function followWorkflow(
  deps: { readonly store: Pick<Store, 'readOutbox'>; readonly hub: EventHub },
  stream: SSEStreamingApi,
  workflow: string,
  after: number | undefined,
  o: FollowOptions,
  onOverflow?: () => void,
): Promise<void> {
  // Subscribed before the backlog (or the head) is read, so nothing can fall between the two.
  const sub = await deps.hub.subscribeWorkflow(workflow, onOverflow);
  stream.onAbort(() => sub.close());
  const workflows = deps.hub.executionWorkflows!;
  try {
    /** Every event of the workflow up to here is sent (or was never the workflow's). */
    let cursor = after ?? sub.upTo;
    /** The last id the client was given; it resumes after it. */
    let told = after ?? -1;
    let lastWrite = Date.now();
    const write = (f: () => Promise<unknown>) =>
      writeWithin(stream, o.writeTimeoutMs, f).then(() => {
        lastWrite = Date.now();
      });
    const send = async (row: EventRow, data: string) => {
      if (row.id <= cursor) return;
      await write(() => stream.writeSSE({ id: String(row.id), event: row.type, data }));
      cursor = row.id;
      told = row.id;
    };
    const tellPosition = async () => {
      if (cursor <= told) return false;
      const position = cursor;
      await write(() =>
        stream.writeSSE({ id: String(position), event: POSITION_EVENT, data: JSON.stringify({ position }) }),
      );
      told = position;
      return true;
    };
    await write(() => stream.write(`retry: 1000\n\n`));
    if (after !== undefined) {
      // The backlog passes a sequence gap only once a read's snapshot proves it final, as the hub does: a row
      // that commits late below what was sent would otherwise be dropped as already sent.
      const frontier = new CommitFrontier();
      for (;;) {
        const page = await deps.store.readOutbox(cursor, o.pageSize);
        const rows = page.rows.filter((r) => r.id > cursor);
        const n = frontier.passable(cursor, { ids: rows.map((r) => r.id), xmin: page.xmin, xmax: page.xmax });
        await workflows.resolve(rows.slice(0, n).map((r) => r.executionId));
        for (const row of rows.slice(0, n)) {
          if (workflows.cached(row.executionId) === workflow) await send(row, eventData(row));
          else cursor = Math.max(cursor, row.id);
        }
        if (n < rows.length) await setTimeout(BACKLOG_GAP_POLL_MS);
        else if (page.rows.length < o.pageSize) break;
      }
    }
    await tellPosition();
    while (!stream.aborted) {
      const untilHeartbeat = Math.max(0, o.heartbeatMs - (Date.now() - lastWrite));
      const events = await sub.next(untilHeartbeat);
      // Read before any write: what the hub had passed when it handed these over.
      const upTo = sub.upTo;
      for (const { row, data } of events) await send(row, data);
      if (Date.now() - lastWrite >= o.heartbeatMs) {
        cursor = Math.max(cursor, upTo);
        if (!(await tellPosition())) await write(() => stream.write(': keep-alive\n\n'));
      }
    }
  } finally {
    sub.close();
  }
}

/**
 * `GET /stream?workflow=<name>` (text/event-stream), served by the same hub as the per-run stream. The query
 * and `Last-Event-ID` are checked, and the workflow looked up, before the stream opens: a bad request is an
 * ordinary 400/404 problem document.
 */
export function registerWorkflowStreamRoute(
  app: OpenAPIHono,
  deps: StreamRoutes & {
    readonly store: Store;
    /** Knows the workflows' names: an unknown one is a 404. */
    readonly engine: Pick<WorkflowEngine, 'listWorkflows'>;
  },
): void {
  app.get('/stream', async (c: Context) => {
    const workflow = c.req.query('workflow');
    if (workflow === undefined || workflow === '') {
      throw new ValidationError(
        'workflow: required: the workflow whose runs to follow (GET /workflows lists them), e.g. /stream?workflow=agent-loop',
        ['workflow: required (GET /workflows lists the workflows)'],
      );
    }
    const lastEventId = c.req.header('last-event-id');
    const afterQuery = c.req.query('after');
    const after =
      lastEventId === undefined && afterQuery === undefined
        ? undefined
        : resumeAfter(lastEventId, afterQuery);
    const known = (await deps.engine.listWorkflows()).some((w) => w.name === workflow);
    if (!known) throw new NotFoundError(`workflow '${workflow}' does not exist (GET /workflows lists them)`);
    c.header('cache-control', 'no-cache, no-transform');
    // Tells nginx-style proxies not to buffer the stream.
    c.header('x-accel-buffering', 'no');
    return streamSSE(
      c,
      async (stream) => {
        try {
          await followWorkflow(
            { store: deps.store, hub: deps.hub() },
            stream,
            workflow,
            after,
            deps.options,
            () => cutStream(c, stream),
          );
        } catch (error) {
          if (!(error instanceof WriteTimeout || error instanceof SubscriberOverflow)) throw error;
          cutStream(c, stream);
        }
      },
      async (error) => {
        console.error(`SSE stream of workflow ${workflow} failed`, error);
      },
    );
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/stream',
    tags: ['executions'],
    summary: 'Live events of every run of one workflow (Server-Sent Events); resume with Last-Event-ID',
    request: { query: WorkflowStreamQuerySchema },
    responses: {
      200: {
        description:
          'text/event-stream, never closed by the server: one SSE message per outbox event of any run of the workflow, runs started later included (id = sequence, event = type, data = the event as JSON with its executionId), in sequence order. Without Last-Event-ID (or after) it starts with what commits from now. `position` messages (id = the sequence up to which every event of the workflow has been sent, data = {"position": n}) at the start and at heartbeats when it moved, so a reconnect resumes from there; otherwise heartbeats are comments',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      },
      400: { description: 'workflow is missing, or Last-Event-ID (or after) is not an event sequence' },
      404: { description: 'No such workflow' },
    },
  });
}
