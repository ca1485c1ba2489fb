/**
 * restart: how soon `wflo dev` serves again on an existing PGlite data directory, after a kill -9 and after a
 * clean stop, on the same directory in the same run. The directory has a realistic WAL: 150 agent-loop runs
 * completed, then 50 in flight (each waiting on its model call) when the process is killed. Then: restart
 * (crash recovery replays the WAL since the last checkpoint, the 50 runs are listed to resume), Ctrl+C, and
 * restart again (nothing to replay). Each restart's wall time from spawn to serving, its CPU time at serving
 * (the machine is shared: CPU is the steadier figure), and the recovery PostgreSQL reports (`--verbose`
 * breakdown: WAL replayed and its duration). Target: serving within 5 s of a restart after kill -9 (issue 11).
 * Last, the clean restart once more with the CLI's TypeScript compiled through tsx at the start
 * (WFLO_CLI_BUILD=0, how every start ran before the prebuilt CLI): the baseline of what the prebuilt CLI saves.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DevProcess, devEnv, startDev, startRuns, until, waitTerminal } from '../chaos/harness.ts';
import { freshDataDirPath } from '../chaos/paths.ts';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import type { BenchResult } from './lib.ts';
import { target } from './lib.ts';

const COMPLETED = 150;
const IN_FLIGHT = 50;
const SERVING_BOUND_MS = 5_000;

/** User + system CPU of a live process so far (ms), from /proc (Linux); NaN elsewhere. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime (fields 14 and 15 of stat, in clock ticks of 1/100 s on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** The crash recovery line of the `--verbose` breakdown: KB replayed and ms, or zeros when there was none. */
function recovery(lines: readonly string[]): { kb: number; ms: number } {
  const line = lines.find((l) => l.includes('store crash recovery'));
  const m = line && /\((\d+) KB of WAL replayed\)\s+(\d+) ms/.exec(line);
  return m ? { kb: Number(m[1]), ms: Number(m[2]) } : { kb: 0, ms: 0 };
}

export async function run(): Promise<BenchResult> {
  const server = new ChaosOpenAiServer({ delayMs: 0 });
  await server.start();
  const processes: DevProcess[] = [];
  const dataDir = freshDataDirPath('bench-restart');
  const env = devEnv({ dataDir, openAiUrl: server.url, extra: { WFLO_VERBOSE: '1' } });
  const serve = async (serveEnv = env) => {
    const t0 = performance.now();
    const dev = await startDev(serveEnv);
    const ms = performance.now() - t0;
    processes.push(dev);
    return { dev, ms, cpu: cpuMs(dev.pid) };
  };
  try {
    // The WAL a day of use leaves: runs completed, then runs in flight at the kill
    const { dev: first } = await serve();
    const done = await startRuns(first.url, COMPLETED, 'bench-restart-done', { concurrency: 20, retries: 3 });
    await waitTerminal(
      first.url,
      done.acknowledged.map((r) => r.executionId),
      { timeoutMs: 300_000, stallMs: 60_000 },
    );
    server.delayMs = 600_000;
    const before = server.stats().received;
    const flying = await startRuns(first.url, IN_FLIGHT, 'bench-restart-fly', {
      concurrency: 20,
      retries: 3,
    });
    await until(
      `${flying.acknowledged.length} model calls in flight`,
      () => server.stats().received - before >= flying.acknowledged.length,
      300_000,
    );
    await first.kill9();

    // Restart after kill -9, then after a clean stop, on the same directory
    const afterKill = await serve();
    const replay = recovery(afterKill.dev.lines);
    await afterKill.dev.stop();
    const afterStop = await serve();
    const cleanReplay = recovery(afterStop.dev.lines);
    await afterStop.dev.stop();
    const throughTsx = await serve({ ...env, WFLO_CLI_BUILD: '0' });
    await throughTsx.dev.stop();

    return {
      name: 'restart',
      figures: {
        runs_completed_before_kill: done.acknowledged.length,
        runs_in_flight_at_kill: flying.acknowledged.length,
        kill9_restart_to_serving_ms: Math.round(afterKill.ms),
        kill9_restart_cpu_ms: afterKill.cpu,
        kill9_wal_replayed_kb: replay.kb,
        kill9_recovery_ms: replay.ms,
        clean_restart_to_serving_ms: Math.round(afterStop.ms),
        clean_restart_cpu_ms: afterStop.cpu,
        clean_wal_replayed_kb: cleanReplay.kb,
        kill9_over_clean: afterKill.ms / afterStop.ms,
        clean_restart_tsx_to_serving_ms: Math.round(throughTsx.ms),
        clean_restart_tsx_cpu_ms: throughTsx.cpu,
        clean_cpu_prebuilt_over_tsx: afterStop.cpu / throughTsx.cpu,
      },
      targets: {
        kill9_restart_serving_ms: target(afterKill.ms, SERVING_BOUND_MS),
      },
      notes: [
        `after kill -9: ${afterKill.dev.lines.filter((l) => /ms\)$/.test(l)).join(' | ')}`,
        `after a clean stop: ${afterStop.dev.lines.filter((l) => /ms\)$/.test(l)).join(' | ')}`,
        `after a clean stop, through tsx: ${throughTsx.dev.lines.filter((l) => /ms\)$/.test(l)).join(' | ')}`,
        `load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      ],
    };
  } finally {
    await Promise.all(processes.map((p) => p.kill9()));
    await server.stop();
    rmSync(dirname(dataDir), { recursive: true, force: true });
  }
}
