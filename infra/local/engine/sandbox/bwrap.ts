import { execFileSync } from 'node:child_process';
import { dirname, sep } from 'node:path';
import type { SystemMount } from './mounts.ts';

/** Inside the sandbox: the uid/gid the program runs as, its working directory and where its code is. */
export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;
export const SANDBOX_WORK_DIR = '/tmp/work';
export const SANDBOX_CODE_DIR = '/tmp/code';

/** Flags that appeared after bubblewrap 0.4 and are used when present. */
export interface BwrapFeatures {
  /** `--size` (0.8): caps the private /tmp; without it /tmp is bounded only by the kernel's tmpfs default. */
  readonly size: boolean;
  /** `--disable-userns` (0.8): no nested user namespaces, a large slice of kernel attack surface gone. */
  readonly disableUserns: boolean;
}

/** Reads which optional flags a bubblewrap binary understands, from its `--help`. */
export function probeBwrapFeatures(bwrapPath: string): BwrapFeatures {
  let help = '';
  try {
    help = execFileSync(bwrapPath, ['--help'], { encoding: 'utf8', env: {}, timeout: 5000 });
  } catch (error) {
    // Older versions print help and exit non-zero; the text is still what we want.
    help = String((error as { stdout?: unknown }).stdout ?? '');
  }
  return { size: /^\s*--size\b/m.test(help), disableUserns: /^\s*--disable-userns\b/m.test(help) };
}

/** Whether `child` is `parent` or lies below it. */
export function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

/**
 * What to bind back, read-only, of the masked paths so the given executables still run: for one
 * under a masked path, its installation prefix (`<prefix>/bin/<exe>`, e.g. an nvm or pyenv version),
 * unless that prefix is the masked path itself or holds the home directory, in which case only the
 * file. So Node from `~/.nvm` works without exposing `~/.aws`.
 * @param executables real paths (symlinks resolved)
 */
export function revealedPaths(
  executables: readonly string[],
  masked: readonly string[],
  home: string,
): string[] {
  const out = new Set<string>();
  for (const exe of executables) {
    const root = masked.find((m) => within(exe, m));
    if (root === undefined) continue;
    const prefix = dirname(dirname(exe));
    const prefixIsSafe = prefix !== root && within(prefix, root) && !within(home, prefix);
    out.add(prefixIsSafe ? prefix : exe);
  }
  return [...out].filter((p, _i, all) => !all.some((q) => q !== p && within(p, q))).sort();
}

export interface BwrapArgsInput {
  readonly features: BwrapFeatures;
  /** Host path of the program file, bound read-only at `sandboxCodePath`. */
  readonly hostCodePath: string;
  readonly sandboxCodePath: string;
  /** The only host paths visible inside (from `systemMounts`): read-only binds and usr-merge symlinks. */
  readonly mounts: readonly SystemMount[];
  readonly tmpBytes: number;
  readonly env: Readonly<Record<string, string>>;
  /** A file descriptor bwrap writes `{"child-pid": n}` to, so the host can kill the sandbox's init. */
  readonly infoFd?: number;
  /** Hide /proc/keys (only where the kernel has one: bwrap cannot create files in procfs). */
  readonly hideProcKeys?: boolean;
  /** A file descriptor bwrap reads the seccomp BPF program from (see seccomp.ts). */
  readonly seccompFd?: number;
  /** What runs inside: the prlimit wrapper and the interpreter argv. */
  readonly command: readonly string[];
}

/**
 * The bubblewrap argv for one run. Every namespace is new (user, PID, network with only loopback, IPC,
 * UTS, cgroup); the root is an empty read-only tmpfs holding only `mounts` (the runtimes, read-only),
 * a minimal private /dev and /proc and a fresh size-capped /tmp with the work directory; the
 * environment is exactly `env`; the program is uid 65534 with no capabilities, behind the seccomp
 * filter, in a new session, killed if its parent dies.
 */
export function bwrapArgs(input: BwrapArgsInput): string[] {
  const args = [
    '--unshare-all',
    // Explicit (not only the "-try" that --unshare-all implies) because --disable-userns needs it.
    '--unshare-user',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_GID),
    ...(input.features.disableUserns ? ['--disable-userns'] : []),
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    // The program is the namespace's PID 1, so bwrap reaps it itself. With bwrap's own init in between,
    // the outer bwrap exits without reaping that init, which then lingers as a zombie of whatever
    // reaps orphans on the host (forever, if that is a Node process running as a container's PID 1).
    // When the program exits, the kernel kills everything left in its namespace.
    '--as-pid-1',
    // setsid(): no controlling terminal, so no TIOCSTI keystroke injection into the caller's shell.
    '--new-session',
    '--hostname',
    'wflo-sandbox',
  ];
  for (const mount of input.mounts) {
    if (mount.kind === 'symlink') args.push('--symlink', mount.target, mount.path);
    else args.push('--ro-bind', mount.path, mount.path);
  }
  args.push(
    // /dev would be a writable, unbounded tmpfs owned by the sandbox user: make it read-only (which
    // also leaves /dev/shm unwritable: no POSIX shared memory outside the address-space limit).
    '--dev',
    '/dev',
    '--remount-ro',
    '/dev',
    '--proc',
    '/proc',
    // The keys of the session bubblewrap was started from are listed there (to their possessor, which
    // the program is); the filter already refuses to read them.
    ...(input.hideProcKeys === false ? [] : ['--ro-bind', '/dev/null', '/proc/keys']),
    ...(input.features.size ? ['--size', String(input.tmpBytes)] : []),
    '--tmpfs',
    '/tmp',
    '--dir',
    SANDBOX_WORK_DIR,
    '--ro-bind',
    input.hostCodePath,
    input.sandboxCodePath,
    // Last: the empty root bubblewrap made (owned by the sandbox user) would otherwise be writable,
    // unmetered memory.
    '--remount-ro',
    '/',
    '--chdir',
    SANDBOX_WORK_DIR,
    '--clearenv',
  );
  for (const [key, value] of Object.entries(input.env)) args.push('--setenv', key, value);
  if (input.infoFd !== undefined) args.push('--info-fd', String(input.infoFd));
  if (input.seccompFd !== undefined) args.push('--seccomp', String(input.seccompFd));
  args.push('--', ...input.command);
  return args;
}
