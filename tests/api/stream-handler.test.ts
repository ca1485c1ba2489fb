import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngine } from '#shared/ports/engine';
import type { Store } from '#shared/ports/store';
import { createApp } from '../../functions/api/app.ts';
import { streamingHandler } from '../../functions/api/streaming.ts';
import { openTestStore } from '../helpers/database.ts';

/*
 * The response-streaming Lambda entry (functions/api/streaming.ts) with the runtime's `awslambda` global
 * faked as the Node.js runtime defines it: streamifyResponse hands the handler a writable response stream,
 * HttpResponseStream.from records the status and headers sent before the body. The app is the real one over
 * an in-process store.
 */

interface Sent {
  metadata?: { statusCode: number; headers: Record<string, string> };
  chunks: string[];
  ended: boolean;
}

function fakeResponseStream(sent: Sent): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      sent.chunks.push(chunk.toString());
      done();
    },
    final(done) {
      sent.ended = true;
      done();
    },
  });
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
  const noEngine = {} as WorkflowEngine;
  handler = streamingHandler(async () =>
    createApp({ store, engine: noEngine, stream: { settleMs: 50 } }),
  ) as unknown as StreamingFn;
});
afterAll(async () => {
  delete (globalThis as Record<string, unknown>).awslambda;
  await close();
});

/** An API Gateway REST (v1) proxy event, as the STREAM integration passes it. */
const restEvent = (path: string, headers: Record<string, string> = {}) => ({
  httpMethod: 'GET',
  path,
  resource: '/executions/{id}/stream',
  headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com', ...headers },
  multiValueHeaders: {},
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: null,
  stageVariables: null,
  requestContext: { stage: 'v1', requestId: randomUUID(), identity: {} },
  body: null,
  isBase64Encoded: false,
});

async function invoke(path: string, headers?: Record<string, string>): Promise<Sent> {
  const sent: Sent = { chunks: [], ended: false };
  const stream = Object.assign(fakeResponseStream(sent), { sent });
  await handler(restEvent(path, headers), stream, {} as Context);
  return sent;
}

describe('streamingHandler (API Gateway REST response streaming)', () => {
  it('streams a run’s events as SSE after status and headers, and ends the response after the terminal event', async () => {
    // Prepare: a run that has ended, with its events in the outbox
    const { execution } = await store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    await store.markRunning(execution.id);
    await store.finishExecution({ id: execution.id, status: 'succeeded', output: { ok: true } });
    const rows = await store.listEvents(execution.id, 0, 100);

    // Act
    const sent = await invoke(`/executions/${execution.id}/stream`);

    // Assess
    expect(sent.metadata?.statusCode).toBe(200);
    expect(sent.metadata?.headers['content-type']).toMatch(/^text\/event-stream/);
    const body = sent.chunks.join('');
    expect([...body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual(rows.map((r) => r.id));
    expect(body).toContain('event: execution.succeeded');
    expect(sent.ended).toBe(true);
  });

  it('answers bad input as problem documents: 400 for a Last-Event-ID that is not a sequence, 404 for an unknown run', async () => {
    const { execution } = await store.createExecution({
      id: randomUUID(),
      workflow: 'agent-loop',
      input: {},
    });
    const bad = await invoke(`/executions/${execution.id}/stream`, { 'last-event-id': 'abc' });
    const missing = await invoke('/executions/no-such-run/stream');
    expect(bad.metadata?.statusCode).toBe(400);
    expect(bad.chunks.join('')).toMatch(/Last-Event-ID/);
    expect(missing.metadata?.statusCode).toBe(404);
    expect(missing.ended).toBe(true);
  });
});
