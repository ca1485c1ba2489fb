import { type ServerType, serve } from '@hono/node-server';
import type { LocalRuntime } from '../engine/runtime.ts';
import { createLocalApi } from './local-api.ts';
import { allowedHostHeaders } from './security.ts';

/**
 * Serves the same API app the Lambda runs, over the local runtime, behind the local guards (Host check,
 * optional bearer token, JSON-only changes, admission; see local-api.ts). Resolves once listening.
 */
export async function startLocalServer(
  local: LocalRuntime,
  options: { port: number; host: string; token?: string | undefined; maxRunsInFlight?: number | undefined },
): Promise<{ server: ServerType; url: string; close(): Promise<void> }> {
  // Known once listening (port 0 picks one); no request is served before.
  let allowed: ReadonlySet<string> = new Set();
  const app = createLocalApi(local, {
    ...options,
    allowedHosts: () => allowed,
    // Decisions on approvals resume the waiting Task through the embedded engine.
    taskCallbacks: local.orchestrator,
  });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, (info) => {
      allowed = allowedHostHeaders(options.host, info.port);
      resolve({
        server,
        url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
    server.once('error', reject);
  });
}
