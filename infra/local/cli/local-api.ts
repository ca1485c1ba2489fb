import { Hono } from 'hono';
import type { TaskTokenCallbacks } from '#shared/ports/task-callbacks';
import { createApp } from '../../../functions/api/app.ts';
import { apiSecurityHeaders } from '../../../functions/api/security-headers.ts';
import type { LocalRuntime } from '../engine/runtime.ts';
import { admission } from './admission.ts';
import { createLocalMetrics, type SandboxLoad } from './metrics.ts';
import { bearerToken, hostCheck, requireJson } from './security.ts';

/** How `wflo dev` guards the API on this machine (see README.md, "The local API"). */
export interface LocalApiOptions {
  /** The `Host` values it answers to (known once it listens; see `allowedHostHeaders`). */
  readonly allowedHosts: () => ReadonlySet<string>;
  /** A bearer token every request must carry. @default none */
  readonly token?: string | undefined;
  /** Runs in flight at which a start gets 429. @default the config's WFLO_MAX_RUNS_IN_FLIGHT */
  readonly maxRunsInFlight?: number | undefined;
  /**
   * Resumes tasks waiting on `.waitForTaskToken` (the embedded engine's orchestrator implements it). Without
   * it, `POST /approvals/{id}/decision` and `POST /task-tokens/…` answer 503 and change nothing. @default none
   */
  readonly taskCallbacks?: TaskTokenCallbacks | undefined;
}

/**
 * The API app the Lambda runs, behind what only the local server needs, in this order: security headers,
 * a Host check (DNS rebinding), the bearer token when one is set, JSON-only state changes (no cross-origin
 * form posts), admission control on starts (429 + Retry-After), and `GET /metrics` (Prometheus). No CORS
 * headers are ever sent, so no other origin may read an answer.
 */
export function createLocalApi(local: LocalRuntime, options: LocalApiOptions) {
  const config = local.runtime.config;
  const maxRunsInFlight = options.maxRunsInFlight ?? config.api.maxRunsInFlight;
  const api = createApp({
    store: local.runtime.store,
    engine: local.engine,
    defaultBudgetMicros: config.defaultBudgetMicros,
    approvals: {
      store: local.runtime.approvals,
      callbacks: options.taskCallbacks,
      // This machine's API has one decider: the configured user (WFLO_USER, WFLO_USER_ROLES).
      identify: () => config.approvals.localUser,
    },
    taskTokens: options.taskCallbacks,
  });
  const metrics = createLocalMetrics({
    store: local.runtime.store,
    runsInFlight: () => local.orchestrator.running,
    maxRunsInFlight,
    // Read through its getters at each scrape; parts the sandbox does not have are left out.
    sandbox: local.sandbox as object as SandboxLoad,
  });

  const app = new Hono();
  app.use('*', apiSecurityHeaders());
  app.use('*', hostCheck(options.allowedHosts));
  if (options.token) app.use('*', bearerToken(options.token));
  app.use('*', requireJson());
  app.use(
    '/workflows/:name/executions',
    admission({
      inFlight: () => local.orchestrator.running,
      limit: maxRunsInFlight,
      onRejected: metrics.rejected,
    }),
  );
  app.get('/metrics', async (c) =>
    c.body(await metrics.render(), 200, { 'content-type': metrics.contentType }),
  );
  // Everything else is the shared API app, with its own routes, errors and 404s.
  // The Node adapter's bindings (its request and response objects) go along unchanged.
  app.all('*', (c) => api.fetch(c.req.raw, c.env as object | undefined));
  return app;
}
