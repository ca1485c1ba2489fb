import { getConfig } from '#shared/wiring/config';
import { getStore } from '#shared/wiring/store';
import { createApp } from './app.ts';
import { streamingHandler, workflowNamesEngine } from './streaming.ts';

/*
 * The API app as a response-streaming Lambda, for the routes that stream (GET /executions/{id}/stream and
 * GET /stream?workflow=, SSE): API Gateway integrates only those in STREAM mode (infra/stacks/api-stack.ts),
 * with a 15-minute timeout. They read the store and the deployed workflows' names, so the engine here only
 * lists those names.
 */

/** Lambda (API Gateway REST, STREAM mode): the SSE routes of the same Hono app as functions/api/handler.ts. */
export const handler = streamingHandler(async () => {
  const [store, config] = await Promise.all([getStore(), getConfig()]);
  return createApp({ store, engine: workflowNamesEngine(Object.keys(config.stateMachines)) });
});
