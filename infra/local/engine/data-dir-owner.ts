import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One process owns an embedded (PGlite) data directory at a time: PGlite is a single-process database,
 * and two processes writing one directory lose each other's rows. The owner leaves `owner.json` in the
 * directory (pid, command, API URL once it serves one); the next process finds it and either talks to the
 * owner's API (`wflo run`, `wflo executions`, … next to `wflo dev`) or is refused with a message that names
 * the owner. A file whose process is gone (kill -9, power loss) is stale and taken over.
 */
export interface DataDirOwner {
  readonly pid: number;
  /** What the owner runs, e.g. `wflo dev`. */
  readonly command: string;
  /** The owner's local API, when it serves one (`wflo dev`). */
  readonly url: string | null;
  readonly startedAt: string;
  /** The kernel boot the pid belongs to: after a reboot a recycled pid is not the owner. */
  readonly bootId: string;
}

/** Another live process owns the data directory. */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
  readonly owner: DataDirOwner;
  constructor(dataDir: string, owner: DataDirOwner) {
    super(
      `the data directory ${dataDir} is in use by \`${owner.command}\` (pid ${owner.pid}, since ${owner.startedAt})` +
        (owner.url
          ? `, serving ${owner.url}`
          : '; wait for it to end, or point WFLO_DATA_DIR at another directory'),
    );
    this.owner = owner;
  }
}

const FILE = 'owner.json';

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function alive(owner: DataDirOwner): boolean {
  if (owner.bootId !== bootId()) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function read(dataDir: string): DataDirOwner | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as DataDirOwner;
  } catch {
    return null;
  }
}

/** The live owner of `dataDir`, or null when there is none (no file, or its process is gone). */
export function currentOwner(dataDir: string): DataDirOwner | null {
  const owner = read(dataDir);
  return owner && alive(owner) ? owner : null;
}

/** What a claim gives: a way to publish the API URL and to let go. */
export interface DataDirClaim {
  setUrl(url: string): void;
  release(): void;
}

/**
 * Makes this process the owner of `dataDir`, atomically (hard link of a complete file: no half-written
 * owner is ever visible), taking over a stale claim. Throws {@link DataDirBusyError} when a live process
 * owns it. The claim is released on `release()` and when the process exits normally.
 */
export function claimDataDir(dataDir: string, command: string): DataDirClaim {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, FILE);
  let owner: DataDirOwner = {
    pid: process.pid,
    command,
    url: null,
    startedAt: new Date().toISOString(),
    bootId: bootId(),
  };
  const write = (target: string) => writeFileSync(target, `${JSON.stringify(owner)}\n`, { mode: 0o600 });
  const temp = join(dataDir, `.${FILE}.${process.pid}`);
  write(temp);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(temp, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
        const existing = read(dataDir);
        if (existing && alive(existing)) throw new DataDirBusyError(dataDir, existing);
        // Stale (its process died without letting go): remove it and claim again, once.
        unlinkSync(path);
      }
    }
  } finally {
    unlinkSync(temp);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    if (read(dataDir)?.pid === process.pid) unlinkSync(path);
    process.off('exit', release);
  };
  process.on('exit', release);
  return {
    setUrl(url) {
      owner = { ...owner, url };
      write(temp);
      renameSync(temp, path);
    },
    release,
  };
}
