import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';

/*
 * Whether `wflo dev` may serve where it is told to bind: decided before anything opens, so this module loads
 * nothing else (the API app, which security.ts's guards need, loads while the store opens).
 */

/** True for names and addresses that only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  return h.startsWith('::ffff:') && isIPv4(h.slice(7)) && h.slice(7).startsWith('127.');
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
