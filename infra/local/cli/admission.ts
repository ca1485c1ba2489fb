import type { MiddlewareHandler } from 'hono';
import { problem } from '../../../functions/api/app.ts';

/** What a refused start is told to wait before it tries again, in seconds. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Admission for starting executions on one machine: while `inFlight()` runs (plus starts being admitted
 * right now, which are not yet counted there) reach `limit`, a POST is answered 429 with `Retry-After`
 * instead of joining an unbounded backlog that would slow every run and the API with it. Other methods
 * pass. `onRejected` is told of each refusal (the metrics count them).
 */
export function admission(options: {
  inFlight: () => number;
  limit: number;
  onRejected?: () => void;
}): MiddlewareHandler {
  let admitting = 0;
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    if (options.inFlight() + admitting >= options.limit) {
      options.onRejected?.();
      return c.json(
        problem(
          429,
          'Too many requests',
          `${options.limit} executions are already running here (WFLO_MAX_RUNS_IN_FLIGHT); try again later`,
        ),
        429,
        { 'content-type': 'application/problem+json', 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
    // Counted until the start has answered: by then the run is in `inFlight()`.
    admitting++;
    try {
      await next();
    } finally {
      admitting--;
    }
  };
}
