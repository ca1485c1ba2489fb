import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

const headers = secureHeaders({
  // The API serves JSON only: nothing in an answer may load, run or be framed.
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
});

/**
 * Security headers on every answer of the API (the Lambda behind API Gateway and `wflo dev` alike):
 * Hono's `secureHeaders` (nosniff, no-referrer, DENY framing, a CSP that allows nothing, …) plus
 * `Cache-Control: no-store`, since every answer is execution data no shared cache or browser should keep.
 */
export function apiSecurityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await headers(c, async () => {
      await next();
      c.res.headers.set('cache-control', 'no-store');
    });
  };
}
