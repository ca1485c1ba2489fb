import { execFileSync } from 'node:child_process';
import { isAbsolute, normalize, sep } from 'node:path';

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

/** Paths whose contents must stay visible in the sandbox (the system, and anything a run executes). */
export const SYSTEM_PATHS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'] as const;

/**
 * Which of `candidates` can be hidden behind an empty read-only tmpfs: absolute, not `/`, not under
 * /tmp, /dev or /proc (those are replaced anyway), and not containing a path in `keep`.
 * Duplicates and paths inside another hidden path are dropped.
 */
export function maskablePaths(candidates: readonly string[], keep: readonly string[]): string[] {
  const within = (child: string, parent: string): boolean =>
    child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
  const clean = [
    ...new Set(candidates.filter((p) => p && isAbsolute(p)).map((p) => normalize(p).replace(/\/+$/, ''))),
  ]
    .filter((p) => p !== '' && p !== '/')
    .filter((p) => !['/tmp', '/dev', '/proc'].some((replaced) => within(p, replaced)))
    .filter((p) => ![...SYSTEM_PATHS, ...keep].some((k) => within(k, p)))
    .sort();
  return clean.filter((p, i) => !clean.slice(0, i).some((q) => within(p, q)));
}

export interface BwrapArgsInput {
  readonly features: BwrapFeatures;
  /** Host path of the program file, bound read-only at `sandboxCodePath`. */
  readonly hostCodePath: string;
  readonly sandboxCodePath: string;
  /** Host directories hidden behind empty read-only mounts (already filtered by `maskablePaths`). */
  readonly hiddenPaths: readonly string[];
  readonly tmpBytes: number;
  readonly env: Readonly<Record<string, string>>;
  /** A file descriptor bwrap writes `{"child-pid": n}` to, so the host can kill the sandbox's init. */
  readonly infoFd?: number;
  /** What runs inside: the prlimit wrapper and the interpreter argv. */
  readonly command: readonly string[];
}

/**
 * The bubblewrap argv for one run. Every namespace is new (user, PID, network with only loopback, IPC,
 * UTS, cgroup), the root is the host's read-only, /dev and /proc are minimal and private, /tmp is a
 * fresh size-capped tmpfs, secrets-bearing host paths are masked, the environment is exactly `env`,
 * and the program is uid 65534 with no capabilities, killed if its parent dies.
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
    '--ro-bind',
    '/',
    '/',
    // /dev would be a writable, unbounded tmpfs owned by the sandbox user: make it read-only.
    '--dev',
    '/dev',
    '--remount-ro',
    '/dev',
    '--proc',
    '/proc',
    ...(input.features.size ? ['--size', String(input.tmpBytes)] : []),
    '--tmpfs',
    '/tmp',
  ];
  for (const path of input.hiddenPaths) {
    // Read-only too: an empty writable tmpfs would be unmetered memory for the program to fill.
    args.push('--tmpfs', path, '--remount-ro', path);
  }
  args.push('--dir', SANDBOX_WORK_DIR, '--ro-bind', input.hostCodePath, input.sandboxCodePath);
  args.push('--chdir', SANDBOX_WORK_DIR, '--clearenv');
  for (const [key, value] of Object.entries(input.env)) args.push('--setenv', key, value);
  if (input.infoFd !== undefined) args.push('--info-fd', String(input.infoFd));
  args.push('--', ...input.command);
  return args;
}
