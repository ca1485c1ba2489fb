import { Hono } from 'hono';
import { streamHandle } from 'hono/aws-lambda';
import type { WorkflowEngine } from '#shared/ports/engine';

/** What the streaming entry serves: anything with the Fetch API's `fetch` (a Hono app). */
export interface FetchApp {
  fetch(request: Request, env?: object): Response | Promise<Response>;
}

/**
 * A Lambda response-streaming handler (API Gateway REST integration in STREAM mode, invoked with
 * InvokeWithResponseStream) over an app built on the first request. Hono's `streamHandle` wraps the
 * handler in the runtime's `awslambda.streamifyResponse`, sends the status and headers first and then pipes
 * the body as it is written, so an SSE stream reaches the client event by event.
 */
export function streamingHandler(load: () => Promise<FetchApp>) {
  let app: Promise<FetchApp> | undefined;
  const front = new Hono();
  front.all('*', async (c) => {
    app ??= load().catch((error: unknown) => {
      app = undefined; // a failed build (the store not reachable yet) is retried by the next request
      throw error;
    });
    return (await app).fetch(c.req.raw, c.env as object);
  });
  return streamHandle(front);
}

/**
 * The engine port of the streaming function: it knows the deployed workflows' names (WORKFLOW_STATE_MACHINES,
 * so `GET /stream?workflow=` answers 404 for an unknown one) and starts, stops and redrives nothing: the
 * stream routes only read.
 */
export function workflowNamesEngine(names: Iterable<string>): WorkflowEngine {
  const workflows = [...names].sort().map((name) => ({ name, description: '' }));
  const refuse = (): never => {
    throw new Error('the streaming API function serves the stream routes only; it has no engine');
  };
  return {
    listWorkflows: async () => workflows,
    startExecution: async () => refuse(),
    stopExecution: async () => refuse(),
    redriveExecution: async () => refuse(),
    consoleUrl: () => null,
  };
}
