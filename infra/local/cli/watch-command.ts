import { parseArgs } from 'node:util';
import { EventSource } from 'eventsource';
import { ApiRequestError } from '#shared/errors';
import { EVENT_TYPES } from '#shared/events/catalogue';
import type { ApiFetch } from './api-client.ts';
import type { ApiTarget } from './api-target.ts';
import { UsageError } from './boot.ts';

/*
 * `wflo watch --workflow <name>`: every event of every run of one workflow, live, through GET /stream?workflow=
 * (Server-Sent Events) on the API in use. The `eventsource` client reconnects by itself with Last-Event-ID
 * (the server's position messages keep that id current while the workflow is quiet), so a dropped connection
 * or API Gateway's 15-minute limit costs no event and repeats none.
 */

/** One outbox event as the stream's `data:` carries it. */
export interface StreamedEvent {
  readonly id: number;
  readonly eventId: string;
  readonly type: string;
  readonly executionId: string;
  readonly payload: unknown;
  readonly createdAt: string;
}

/** EventSource needs an absolute URL; the ApiFetch takes the path and query from it. */
const PLACEHOLDER_ORIGIN = 'http://wflo.api';

/**
 * Follows `GET /stream?workflow=` through `call` until `signal` aborts (resolves) or the API refuses the stream
 * (rejects with ApiRequestError carrying its problem's detail, e.g. 404 for an unknown workflow).
 */
export function followWorkflowStream(
  call: ApiFetch,
  workflow: string,
  options: {
    readonly after?: number | undefined;
    readonly signal: AbortSignal;
    readonly onEvent: (event: StreamedEvent) => void;
  },
): Promise<void> {
  const path = `/stream?workflow=${encodeURIComponent(workflow)}`;
  let refused: ApiRequestError | undefined;
  const es = new EventSource(`${PLACEHOLDER_ORIGIN}${path}`, {
    fetch: async (url, init) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => {
        headers[name] = value;
      });
      // The first connection resumes after --after; the client's reconnects carry the id it saw last.
      if (options.after !== undefined && headers['last-event-id'] === undefined)
        headers['last-event-id'] = String(options.after);
      const u = new URL(url instanceof Request ? url.url : String(url));
      const res = await call(`${u.pathname}${u.search}`, {
        headers,
        ...(init.signal ? { signal: init.signal } : {}),
      });
      if (res.ok) return res;
      // EventSource reports only the status: keep the problem's detail for the message.
      const text = await res.text();
      let detail = text.slice(0, 300);
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? detail;
      } catch {
        // not a problem document: the text as it is
      }
      refused = new ApiRequestError(`GET ${path}: HTTP ${res.status}: ${detail}`, res.status);
      return new Response(null, { status: res.status, headers: res.headers });
    },
  });
  return new Promise((resolve, reject) => {
    const stop = () => {
      es.close();
      resolve();
    };
    if (options.signal.aborted) return stop();
    options.signal.addEventListener('abort', stop, { once: true });
    // The stream names each message by its outbox type; `position` messages only move the client's Last-Event-ID.
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (e) => options.onEvent(JSON.parse(e.data) as StreamedEvent));
    }
    es.onerror = (e) => {
      if (es.readyState !== EventSource.CLOSED) return; // reconnecting by itself
      options.signal.removeEventListener('abort', stop);
      reject(refused ?? new ApiRequestError(`GET ${path}: ${e.message ?? 'the stream failed'}`, e.code ?? 0));
    };
  });
}

/** `wflo watch --workflow <name> [--after <seq>] [--json]`: until Ctrl+C. */
export async function watch(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workflow: { type: 'string', short: 'w' },
      after: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError('wflo watch takes no positional arguments');
  const workflow = values.workflow;
  if (!workflow) throw new UsageError('wflo watch needs --workflow <name> (wflo workflows lists them)');
  if (values.after !== undefined && !/^\d{1,15}$/.test(values.after))
    throw new UsageError('--after must be an event sequence (a non-negative integer)');
  const { openApi } = await import('./read-commands.ts');
  const { progressLine } = await import('./format.ts');
  const { fetch, close } = await openApi(target);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!values.json) console.error(`wflo: watching every run of ${workflow} (Ctrl+C stops)`);
    await followWorkflowStream(fetch, workflow, {
      after: values.after === undefined ? undefined : Number(values.after),
      signal: stop.signal,
      onEvent: (e) => {
        if (values.json) return console.log(JSON.stringify(e));
        const line = progressLine(e);
        if (line) console.log(`${e.executionId}  ${line.trimStart()}`);
      },
    });
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await close();
  }
}
