import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { createApp } from '../../functions/api/app.ts';
import { streamingHandler, workflowNamesEngine } from '../../functions/api/streaming.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * GET /stream?workflow= on the response-streaming Lambda entry (functions/api/streaming.ts), wired as
 * functions/api/stream-handler.ts wires it: the workflows' names from the deployment, no engine. The runtime's
 * `awslambda` global is faked as in stream-handler.test.ts; the client "leaves" by failing a write once it has
 * what it waited for, since this stream never ends by itself.
 */

interface Sent {
  metadata?: { statusCode: number; headers: Record<string, string> };
  chunks: string[];
  ended: boolean;
}

type StreamingFn = (event: unknown, stream: Writable, context: Context) => Promise<void>;

let store: Store;
let close: () => Promise<void>;
let handler: StreamingFn;

beforeAll(async () => {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: (fn: StreamingFn) => fn,
    HttpResponseStream: {
      from: (stream: Writable & { sent?: Sent }, metadata: Sent['metadata']) => {
        stream.sent!.metadata = metadata;
        return stream;
      },
    },
  };
  ({ store, close } = await openTestStore());
  handler = streamingHandler(async () =>
    createApp({
      store,
      engine: workflowNamesEngine(['hello', 'agent-loop']),
      stream: { pollMs: 20, heartbeatMs: 100 },
    }),
  ) as unknown as StreamingFn;
});
afterAll(async () => {
  delete (globalThis as Record<string, unknown>).awslambda;
  await close();
});

/** An API Gateway REST (v1) proxy event, as the STREAM integration passes it. */
const restEvent = (query: Record<string, string> | null, headers: Record<string, string> = {}) => ({
  httpMethod: 'GET',
  path: '/stream',
  resource: '/stream',
  headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com', ...headers },
  multiValueHeaders: {},
  queryStringParameters: query,
  multiValueQueryStringParameters: query
    ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]]))
    : null,
  pathParameters: null,
  stageVariables: null,
  requestContext: { stage: 'v1', requestId: randomUUID(), identity: {} },
  body: null,
  isBase64Encoded: false,
});

/** Invokes the handler; the client leaves (its next write fails) once `enough(body)` holds. */
async function invoke(
  query: Record<string, string> | null,
  headers?: Record<string, string>,
  enough: (body: string) => boolean = () => false,
): Promise<Sent> {
  const sent: Sent = { chunks: [], ended: false };
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        if (enough(sent.chunks.join(''))) return done(new Error('client left'));
        sent.chunks.push(chunk.toString());
        done();
      },
      final(done) {
        sent.ended = true;
        done();
      },
    }),
    { sent },
  );
  stream.on('error', () => undefined);
  await handler(restEvent(query, headers), stream, {} as Context);
  return sent;
}

describe('GET /stream?workflow= on the streaming Lambda (API Gateway REST response streaming)', () => {
  it('streams the events of one workflow’s runs after a Last-Event-ID, none of another workflow’s, until the client leaves', async () => {
    // Prepare: an ended run of hello and one of agent-loop, after a known position in the outbox
    const after = (await store.outboxHead()).head;
    const ran = async (workflow: string) => {
      const { execution } = await store.createExecution({ id: randomUUID(), workflow, input: {} });
      await store.markRunning(execution.id);
      await store.finishExecution({ id: execution.id, status: 'succeeded', output: {} });
      return execution.id;
    };
    const hello = await ran('hello');
    const other = await ran('agent-loop');
    const rows = (await store.readOutbox(after, 100)).rows.filter((r) => r.executionId === hello);
    expect((await store.listEvents(other, 0, 10)).length).toBeGreaterThan(0);

    // Act: resume after `after`, leave once a heartbeat follows the backlog
    const sent = await invoke({ workflow: 'hello' }, { 'last-event-id': String(after) }, (body) =>
      /: keep-alive|event: position/.test(body.slice(body.lastIndexOf(`id: ${rows.at(-1)!.id}`))),
    );

    // Assess
    expect(sent.metadata?.statusCode).toBe(200);
    expect(sent.metadata?.headers['content-type']).toMatch(/^text\/event-stream/);
    const body = sent.chunks.join('');
    const events = [...body.matchAll(/^event: ([a-z_.]+)\ndata: .*\nid: (\d+)$/gm)].filter(
      (m) => m[1] !== 'position',
    );
    expect(events.map((m) => Number(m[2]))).toEqual(rows.map((r) => r.id));
    expect(body).not.toContain(other);
    expect(body).toContain('event: execution.succeeded');
  });

  it('answers bad input as problem documents and ends the response: 400 without a workflow or with a bad Last-Event-ID, 404 for a workflow not deployed', async () => {
    const missing = await invoke(null);
    const unknown = await invoke({ workflow: 'code-review-gate' });
    const badId = await invoke({ workflow: 'hello' }, { 'last-event-id': 'abc' });

    expect(missing.metadata?.statusCode).toBe(400);
    expect(missing.chunks.join('')).toMatch(/workflow: required/);
    expect(unknown.metadata?.statusCode).toBe(404);
    expect(unknown.chunks.join('')).toMatch(/code-review-gate/);
    expect(badId.metadata?.statusCode).toBe(400);
    expect(badId.chunks.join('')).toMatch(/Last-Event-ID/);
    expect([missing, unknown, badId].every((s) => s.ended)).toBe(true);
  });
});

describe('workflowNamesEngine', () => {
  it('lists the deployed workflows by name and refuses to start, stop or redrive', async () => {
    const engine = workflowNamesEngine(['hello', 'agent-loop']);
    expect((await engine.listWorkflows()).map((w) => w.name)).toEqual(['agent-loop', 'hello']);
    await expect(engine.startExecution('hello', 'x', {})).rejects.toThrow(/stream routes only/);
    await expect(engine.stopExecution('hello', 'x', 'c')).rejects.toThrow(/stream routes only/);
  });
});
