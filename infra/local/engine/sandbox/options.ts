import type { SandboxLimits } from '../../../../sandbox-image/src/contract.ts';
import type { Interpreters } from '../../../../sandbox-image/src/core/interpreter.ts';
import type { BwrapFeatures } from './bwrap.ts';
import type { SystemMount } from './mounts.ts';

/* The local sandbox's options and resolved mode (local-sandbox.ts runs it). */

/** What to do when bubblewrap is missing, spelled out where the refusal is raised. */
export const INSTALL_BUBBLEWRAP =
  'Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install ' +
  'bubblewrap`; Arch: `sudo pacman -S bubblewrap`), or run with --unsafe-local-sandbox to execute ' +
  'untrusted code WITHOUT isolation (trusted code only).';

/**
 * The host uid/gid the sandbox runs as when this process is root. Nothing else may run as it: the
 * kernel's per-user accounting (and `ps` in the escape suite) then sees only sandboxes, and the
 * program cannot read root-owned files through the owner bits, which it could if it were mapped to
 * root. Above the 0x70000000 container range systemd hands out, below 2^31.
 */
export const DEFAULT_HOST_UID = 2_000_000_000;

export interface LocalSandboxOptions {
  /**
   * Run without bubblewrap when it is missing: the program then runs as a plain process (own process
   * group, cleared environment, CPU/memory/file rlimits, timeout) with NO filesystem, network or
   * process isolation. For trusted code only; the CLI's `--unsafe-local-sandbox`.
   * @default false
   */
  readonly unsafeLocalSandbox?: boolean;
  /**
   * Directory for per-run program files, created if missing and required to be owned by this user;
   * each run's folder is removed after it. @default `<os tmpdir>/wflo-sandbox-<uid>`
   */
  readonly workRoot?: string;
  /** Host uid and gid of sandboxed processes when this process is root. @default DEFAULT_HOST_UID */
  readonly hostUid?: number;
  /** @default found in /usr/local/bin, /usr/bin, /bin (and sbin) */
  readonly bwrapPath?: string;
  /** @default found like bwrapPath */
  readonly prlimitPath?: string;
  /** @default python3 from the system bin directories; node is this process's `execPath` */
  readonly interpreters?: Partial<Interpreters>;
  /** Limits for requests that leave them out. */
  readonly defaultLimits?: Partial<SandboxLimits>;
  /**
   * Sandboxes running at once; further runs wait in arrival order, the wait counted against their
   * timeout. @default os.availableParallelism()
   */
  readonly maxConcurrent?: number;
  /** Receives the one-time warning of unsafe mode. @default process.emitWarning */
  readonly onWarning?: (message: string) => void;
}

/** How runs are executed here, once resolved. */
export type LocalSandboxMode =
  | {
      readonly kind: 'bubblewrap';
      readonly bwrapPath: string;
      readonly prlimitPath: string;
      readonly features: BwrapFeatures;
      readonly interpreters: Interpreters;
      /** The only host paths visible inside, read-only (see mounts.ts). */
      readonly mounts: readonly SystemMount[];
    }
  | {
      readonly kind: 'unsafe';
      readonly prlimitPath: string | undefined;
      readonly interpreters: Interpreters;
    };
