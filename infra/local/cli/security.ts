import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { MiddlewareHandler } from 'hono';
import { problem } from '../../../functions/api/app.ts';
import { isLoopback } from './remote-access.ts';

// Kept apart (remote-access.ts) so `wflo dev` decides before it loads the API app; re-exported for callers here.
export { isLoopback, type RemoteAccess, remoteAccess } from './remote-access.ts';

const PROBLEM = { 'content-type': 'application/problem+json' } as const;

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

/** How a host name or address is written in a Host header (IPv6 in brackets, lower case). */
function hostForm(host: string): string {
  const h = host.toLowerCase();
  return isIPv6(h) ? `[${h}]` : h;
}

/**
 * The `Host` header values under which the local server answers: its loopback names on its port, and —
 * when it is bound beyond loopback (`--allow-remote`) — the bound address, or for a wildcard bind every
 * address of this machine and its host name. Anything else is a request a browser was tricked into
 * sending under a foreign name (DNS rebinding), or one meant for another server.
 */
export function allowedHostHeaders(bindHost: string, port: number): ReadonlySet<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  if (!isLoopback(bindHost)) {
    if (WILDCARDS.has(bindHost)) {
      for (const addresses of Object.values(networkInterfaces())) {
        for (const a of addresses ?? []) names.add(hostForm(a.address.replace(/%.*$/, '')));
      }
      names.add(hostname().toLowerCase());
      // What the printed URL says; only served with --allow-remote, i.e. with a token.
      names.add(hostForm(bindHost.replace(/^\[|\]$/g, '')));
    } else {
      names.add(hostForm(bindHost.replace(/^\[|\]$/g, '')));
    }
  }
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(`${name}:${port}`);
    // A client leaves the default port out of Host.
    if (port === 80) allowed.add(name);
  }
  return allowed;
}

/** 403 for a `Host` that is not one of the server's own (read when a request arrives: the port is known then). */
export function hostCheck(allowed: () => ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (!allowed().has(host)) {
      return c.json(
        problem(403, 'Forbidden', `this server does not answer to Host '${host.slice(0, 100)}'`),
        403,
        PROBLEM,
      );
    }
    await next();
  };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * 401 unless the request carries `Authorization: Bearer <token>`. Both sides are hashed to the same length
 * first, so the comparison takes the same time whatever the guess (`timingSafeEqual`).
 */
export function bearerToken(token: string): MiddlewareHandler {
  const expected = digest(token);
  return async (c, next) => {
    const match = /^Bearer +([^ ]+) *$/i.exec(c.req.header('authorization') ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      return c.json(problem(401, 'Unauthorized', 'this server needs Authorization: Bearer <token>'), 401, {
        ...PROBLEM,
        'www-authenticate': 'Bearer realm="wflo"',
      });
    }
    await next();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * 415 for a state-changing request (any method but GET, HEAD, OPTIONS) that is not `application/json`.
 * A web page can make the browser send a cross-origin form or `no-cors` fetch without asking (text/plain,
 * form-urlencoded, multipart, or no body at all); `application/json` needs a CORS preflight, which this
 * server never grants. Checked before routing, so every route added later is covered.
 */
export function requireJson(): MiddlewareHandler {
  return async (c, next) => {
    if (!SAFE_METHODS.has(c.req.method)) {
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        return c.json(
          problem(415, 'Unsupported media type', `${c.req.method} needs Content-Type: application/json`),
          415,
          PROBLEM,
        );
      }
    }
    await next();
  };
}
