/**
 * recovery: 200 agent-loop runs in flight when `wflo dev` is killed with kill -9 (each waiting on its model
 * call), then the same data directory served again: the time from the restart until all 200 are terminal,
 * next to the time the same 200 runs take without a crash (model answering after 2 s in both). Target:
 * recovery adds < 20 %, judged on the whole crashed workload: the time to start the 200 and bring them to their
 * model call before the kill, plus restart → all terminal (the dead time between kill and restart left out),
 * over the no-crash time: how much later the runs end than they would have, the downtime left out. The issue's own
 * wording ("time from restart to all 200 terminal, next to the time the same 200 take without a crash") is judged
 * as a second target: restart → all terminal over the no-crash time. It leaves out the work done before the kill
 * (starting the runs), which the restart repeats only in part, so it is the easier of the two. Real processes (the CLI, PGlite under a temporary data directory) and the chaos
 * suite's model server. Bounded: the wait after the restart ends at 180 s, or after 30 s without progress.
 * On 2 cores one pair of phases swings by ±0.3 in either ratio with the machine's load, so the bench runs
 * RECOVERY_ROUNDS (3) rounds of both phases back to back and judges the median round; every round is printed.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DevProcess, devEnv, startDev, startRuns, until, waitTerminal } from '../chaos/harness.ts';
import { freshDataDirPath } from '../chaos/paths.ts';
import { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import type { BenchResult } from './lib.ts';
import { target } from './lib.ts';

const RUNS = 200;
const MODEL_DELAY_MS = 2_000;
const RECOVERY_BOUND_MS = 180_000;
const ROUNDS = Math.max(1, Number(process.env.RECOVERY_ROUNDS ?? 3));

/** One round: the 200 runs without a crash, then 200 more killed in flight and recovered. */
interface Round {
  readonly figures: Record<string, number>;
  readonly added: number;
  /** Restart → all terminal over the no-crash time. */
  readonly ratio: number;
  readonly recovered: boolean;
  readonly notes: string[];
}

export async function run(): Promise<BenchResult> {
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await round(i));
  // The median round by the judged measure (an odd count: a real round, not an average of two).
  const byAdded = [...rounds].sort((a, b) => a.added - b.added);
  const median = byAdded[Math.floor((byAdded.length - 1) / 2)]!;
  const recovered = rounds.every((r) => r.recovered);
  const figures: Record<string, number> = { rounds: ROUNDS, ...median.figures };
  for (const [i, r] of rounds.entries()) {
    figures[`round_${i + 1}_with_crash_total_over_no_crash`] = r.figures.with_crash_total_over_no_crash!;
    figures[`round_${i + 1}_recovery_over_no_crash`] = r.figures.recovery_over_no_crash!;
  }
  return {
    name: 'recovery',
    figures,
    targets: {
      // Not recovered in every round: the target is missed whatever the ratios say.
      recovery_adds_under_20_percent: recovered
        ? target(median.added, 1.2)
        : { value: Math.round(median.added * 1000) / 1000, max: 1.2, ok: false },
      // The wording, on the same median round.
      restart_to_all_terminal_under_1_2x_no_crash: recovered
        ? target(median.ratio, 1.2)
        : { value: Math.round(median.ratio * 1000) / 1000, max: 1.2, ok: false },
    },
    notes: [
      `median of ${ROUNDS} rounds (the figures above without a round_ prefix are that round's)`,
      ...rounds.flatMap((r, i) => r.notes.map((n) => `round ${i + 1}: ${n}`)),
    ],
  };
}

async function round(index: number): Promise<Round> {
  const server = new ChaosOpenAiServer({ delayMs: MODEL_DELAY_MS });
  await server.start();
  const processes: DevProcess[] = [];
  const dirs: string[] = [];
  const serve = async (dataDir: string) => {
    const dev = await startDev(devEnv({ dataDir, openAiUrl: server.url }));
    processes.push(dev);
    return dev;
  };
  try {
    // Without a crash: 200 runs from their start to all terminal
    const plainDir = freshDataDirPath(`bench-recovery-plain-${index}`);
    dirs.push(plainDir);
    const plain = await serve(plainDir);
    const t0 = performance.now();
    const base = await startRuns(plain.url, RUNS, 'bench-plain', { concurrency: 20, retries: 3 });
    const baseline = await waitTerminal(
      plain.url,
      base.acknowledged.map((r) => r.executionId),
      {
        timeoutMs: 300_000,
        stallMs: 60_000,
        activity: () => server.stats().received,
      },
    );
    const baselineMs = baseline.endedAt - t0;
    await plain.stop();

    // The crash: every run's model call held until the kill, then answered after 2 s again
    const crashDir = freshDataDirPath(`bench-recovery-crash-${index}`);
    dirs.push(crashDir);
    server.delayMs = 600_000;
    const first = await serve(crashDir);
    const received = server.stats().received;
    const tc = performance.now();
    const crashed = await startRuns(first.url, RUNS, 'bench-crash', { concurrency: 20, retries: 3 });
    const inFlight = crashed.acknowledged.length;
    await until(
      `${inFlight} model calls in flight`,
      () => server.stats().received - received >= inFlight,
      300_000,
    );
    await first.kill9();
    const beforeKillMs = performance.now() - tc;
    server.delayMs = MODEL_DELAY_MS;
    const t1 = performance.now();
    const second = await serve(crashDir);
    const servingMs = performance.now() - t1;
    const recovery = await waitTerminal(
      second.url,
      crashed.acknowledged.map((r) => r.executionId),
      {
        timeoutMs: RECOVERY_BOUND_MS,
        stallMs: 30_000,
        activity: () => server.stats().received,
      },
    );
    const recoveryMs = recovery.endedAt - t1;
    await second.stop();

    // Both phases must run the whole workload: fewer runs started in one phase would compare unlike loads.
    const sameWorkload = base.acknowledged.length === RUNS && crashed.acknowledged.length === RUNS;
    const recovered = recovery.ended === 'all-terminal' && sameWorkload;
    const ratio = recoveryMs / baselineMs;
    // The whole crashed workload without the dead time between the kill and the restart: starting the 200 runs
    // and bringing them to their model call (as the no-crash phase does), then everything after the restart.
    // This is the measure of what the crash adds; the ratio above leaves out the work done before the kill.
    const withCrashMs = beforeKillMs + recoveryMs;
    const added = withCrashMs / baselineMs;
    return {
      added,
      ratio,
      recovered,
      figures: {
        runs: RUNS,
        model_delay_ms: MODEL_DELAY_MS,
        no_crash_all_terminal_ms: Math.round(baselineMs),
        no_crash_acknowledged: base.acknowledged.length,
        no_crash_terminal: baseline.terminal,
        crash_acknowledged: crashed.acknowledged.length,
        restart_to_serving_ms: Math.round(servingMs),
        restart_to_wait_end_ms: Math.round(recoveryMs),
        terminal_after_restart: recovery.terminal,
        recovery_over_no_crash: ratio,
        crash_phase_before_kill_ms: Math.round(beforeKillMs),
        with_crash_total_over_no_crash: added,
      },
      notes: [
        ...(sameWorkload
          ? []
          : [
              `NOT THE SAME WORKLOAD: ${base.acknowledged.length} and ${crashed.acknowledged.length} of ${RUNS} runs started`,
            ]),
        recovered
          ? `all ${crashed.acknowledged.length} acknowledged runs terminal ${Math.round(recoveryMs)} ms after the restart`
          : `NOT RECOVERED: ${recovery.terminal}/${crashed.acknowledged.length} runs terminal when the wait ended (${recovery.ended} after ${recovery.ms} ms); statuses ${JSON.stringify(recovery.statuses)}`,
        `without a crash: ${baseline.terminal}/${base.acknowledged.length} acknowledged runs terminal in ${Math.round(baselineMs)} ms (${JSON.stringify(baseline.statuses)})`,
        ...[...new Set([...base.refused, ...crashed.refused])].slice(0, 3).map((r) => `start refused: ${r}`),
      ],
    };
  } finally {
    await Promise.all(processes.map((p) => p.kill9()));
    await server.stop();
    for (const d of dirs) rmSync(dirname(d), { recursive: true, force: true });
  }
}
