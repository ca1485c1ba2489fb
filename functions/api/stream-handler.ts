import type { WorkflowEngine } from '#shared/ports/engine';
import { getStore } from '#shared/wiring/store';
import { createApp } from './app.ts';
import { streamingHandler } from './streaming.ts';

/*
 * The API app as a response-streaming Lambda, for the routes that stream (GET /executions/{id}/stream, SSE):
 * API Gateway integrates only those in STREAM mode (infra/stacks/api-stack.ts), with a 15-minute timeout.
 * They read the store and nothing else, so no engine is wired here.
 */

const noEngine = new Proxy(
  {},
  {
    get: () => {
      throw new Error('the streaming API function serves the stream routes only; it has no engine');
    },
  },
) as WorkflowEngine;

/** Lambda (API Gateway REST, STREAM mode): the SSE routes of the same Hono app as functions/api/handler.ts. */
export const handler = streamingHandler(async () => createApp({ store: await getStore(), engine: noEngine }));
