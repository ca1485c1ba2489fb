import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '../../../functions/api/app.ts';
import type { LocalRuntime } from '../engine/runtime.ts';

/** Serves the same API app the Lambda runs, over the local runtime. Resolves once listening. */
export async function startLocalServer(
  local: LocalRuntime,
  options: { port: number; host: string },
): Promise<{ server: ServerType; url: string; close(): Promise<void> }> {
  const app = createApp({
    store: local.runtime.store,
    engine: local.engine,
    defaultBudgetMicros: local.runtime.config.defaultBudgetMicros,
  });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, (info) => {
      resolve({
        server,
        url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
    server.once('error', reject);
  });
}
