import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import type { MiddlewareHandler } from 'hono';
import { problem } from '../../../functions/api/app.ts';

const PROBLEM = { 'content-type': 'application/problem+json' } as const;

/** True for names and addresses that only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  return h.startsWith('::ffff:') && isIPv4(h.slice(7)) && h.slice(7).startsWith('127.');
}

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

/** What `wflo dev` may do given where it binds: serve (with a token or none), or refuse and say why. */
export type RemoteAccess =
  | { readonly ok: true; readonly token: string | undefined; readonly generated: boolean }
  | { readonly ok: false; readonly reason: string };

/**
 * Binding beyond loopback needs `--allow-remote`, and then a bearer token: WFLO_API_TOKEN, or one made here
 * (32 random bytes, base64url) to print at start. On loopback a configured token is still required of
 * every request; none is made.
 */
export function remoteAccess(options: {
  host: string;
  allowRemote: boolean;
  configuredToken: string | undefined;
}): RemoteAccess {
  if (isLoopback(options.host)) {
    return { ok: true, token: options.configuredToken, generated: false };
  }
  if (!options.allowRemote) {
    return {
      ok: false,
      reason:
        `--host ${options.host} is reachable from other machines: add --allow-remote to serve it there ` +
        '(every request then needs a bearer token; see README.md)',
    };
  }
  if (options.configuredToken) return { ok: true, token: options.configuredToken, generated: false };
  return { ok: true, token: randomBytes(32).toString('base64url'), generated: true };
}
