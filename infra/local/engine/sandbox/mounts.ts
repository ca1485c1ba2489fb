import { lstatSync, readlinkSync } from 'node:fs';
import { revealedPaths, within } from './bwrap.ts';

/** One host path made visible in the sandbox: bound read-only, or recreated as the same symlink. */
export type SystemMount =
  | { readonly kind: 'ro-bind'; readonly path: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

/** Where the interpreters, their libraries and the dynamic loader live on a Linux system. */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const;

/**
 * What of /etc the runtimes read: the loader's cache and config, the Debian alternatives symlinks,
 * TLS roots (for a program's own HTTPS, which the network namespace stops anyway) and the time zone.
 * No passwd, hosts, hostname, machine-id or anything holding configuration of this machine's users.
 */
export const ETC_FILES = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/localtime',
] as const;

/** What a path is on the host, without following a final symlink; undefined when absent. */
export type PathProbe = (
  path: string,
) => { kind: 'dir' | 'file' } | { kind: 'symlink'; target: string } | undefined;

/** The real file system's answer. */
export const probePath: PathProbe = (path) => {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(path) };
    return { kind: stat.isDirectory() ? 'dir' : 'file' };
  } catch {
    return undefined;
  }
};

/**
 * The allowlist the sandbox sees of the host: the system directories (usr-merge symlinks such as
 * `/bin -> usr/bin` kept as symlinks, so nothing is bound twice), the few /etc entries in
 * {@link ETC_FILES}, and for each executable outside the system directories (an nvm or pyenv
 * installation) its installation prefix, or only the file when that prefix would hold the home
 * directory. Everything is read-only; nothing else of the host exists inside.
 * @param executables real paths (symlinks resolved) of the interpreters and prlimit
 */
export function systemMounts(
  executables: readonly string[],
  home: string,
  probe: PathProbe = probePath,
): SystemMount[] {
  const mounts: SystemMount[] = [];
  for (const path of SYSTEM_DIRS) {
    const found = probe(path);
    if (found?.kind === 'symlink') mounts.push({ kind: 'symlink', path, target: found.target });
    else if (found) mounts.push({ kind: 'ro-bind', path });
  }
  for (const path of ETC_FILES) if (probe(path)) mounts.push({ kind: 'ro-bind', path });
  const bound = mounts.filter((m) => m.kind === 'ro-bind').map((m) => m.path);
  const outside = executables.filter((exe) => !bound.some((dir) => within(exe, dir)));
  // Each executable's top-level directory plays the part of the hidden root it is revealed from.
  const roots = [...new Set(outside.map((exe) => `/${exe.split('/')[1] ?? ''}`))];
  for (const path of revealedPaths(outside, roots, home)) mounts.push({ kind: 'ro-bind', path });
  return mounts;
}
