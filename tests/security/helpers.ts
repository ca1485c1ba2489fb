import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A live or zombie process as `/proc` shows it. */
export interface ProcInfo {
  readonly pid: number;
  readonly uid: number;
  readonly state: string;
  readonly name: string;
}

const ownPidNamespace = readlinkSync('/proc/self/ns/pid');

/**
 * Processes that belong to a sandbox, owned by `uid`. When the tests run as root that is the
 * sandbox's dedicated host uid and every process of it counts, in any namespace; otherwise it is our
 * own uid and only processes in a PID namespace other than ours count. Processes that exit while we
 * look are skipped.
 */
export function sandboxProcesses(uid: number, anyNamespace = process.getuid?.() === 0): ProcInfo[] {
  const found: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (realUid !== uid) continue;
      if (!anyNamespace && readlinkSync(`/proc/${entry}/ns/pid`) === ownPidNamespace) continue;
      found.push({
        pid: Number(entry),
        uid: realUid,
        state: /^State:\s+(\S)/m.exec(status)?.[1] ?? '?',
        name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?',
      });
    } catch {
      // gone meanwhile, or not ours to inspect
    }
  }
  return found;
}

/** Polls `sample` every `everyMs` while `work` runs; returns the work's value and every sample. */
export async function sampleWhile<T, S>(
  work: Promise<T>,
  sample: () => S,
  everyMs = 50,
): Promise<{ value: T; samples: S[] }> {
  const samples: S[] = [];
  let done = false;
  const poller = (async () => {
    while (!done) {
      samples.push(sample());
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    return { value: await work, samples };
  } finally {
    done = true;
    await poller;
  }
}

/** Pids of processes whose command line contains `marker` (e.g. a unique `sleep 31.4159`). */
export function processesWithArgs(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (args.includes(marker)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Resolves once `check` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5_000, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
