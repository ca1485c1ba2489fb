import type { PGlite } from '@electric-sql/pglite';

/**
 * Bounds the WAL a restart after a crash has to replay on PGlite.
 *
 * PGlite runs PostgreSQL as a single-user backend: there is no checkpointer process, and a standalone backend
 * never requests a checkpoint when WAL passes `max_wal_size` (PostgreSQL only does that under a postmaster).
 * So a `wflo dev` that ran for hours has checkpointed only when it opened; a `kill -9` (or power loss) then
 * leaves every byte of WAL written since to be replayed on the next open, before anything can be served.
 * Measured on a loaded 2-core machine: 1.2 MB of WAL (50 runs started) replayed in 0.66 s, 12 MB (300 runs)
 * in 3.9 s, and the WAL grows without bound while the process lives.
 *
 * This issues `CHECKPOINT` once the WAL written since the last checkpoint's redo point passes a threshold,
 * looked at every `intervalMs`. Durability is untouched (every commit is still flushed before it is
 * acknowledged; a checkpoint only makes the data files catch up with the WAL), so runs acknowledged before a
 * kill -9 survive it exactly as before. The cost is paid on the running process: while the checkpoint writes
 * the dirty pages, PGlite (one statement at a time) holds every other statement; {@link CheckpointStats}
 * keeps the longest so it can be reported.
 */
export interface CheckpointerOptions {
  /** How often the WAL since the last checkpoint is measured. */
  readonly intervalMs: number;
  /** Checkpoint once at least this many bytes of WAL were written since the last checkpoint's redo point. */
  readonly maxWalBytes: number;
  /** A failed measurement or checkpoint (reported, then tried again at the next interval). */
  readonly onError?: (error: unknown) => void;
}

/** What the checkpointer did: checkpoints issued, and how long they held the database. */
export interface CheckpointStats {
  checkpoints: number;
  totalMs: number;
  maxMs: number;
}

/** A running checkpointer. */
export interface Checkpointer {
  readonly stats: CheckpointStats;
  /** Measures now and checkpoints if over the threshold (the timer calls it; tests too). */
  tick(): Promise<void>;
  /** Stops the timer and waits for a checkpoint in progress. */
  stop(): Promise<void>;
}

/**
 * Defaults for `wflo dev`: a checkpoint per 4 MB of WAL keeps the replay after a crash around a second on a
 * loaded machine (see above), while a checkpoint stays rare on the run path
 * (an agent-loop run writes about 45 KB of WAL: one checkpoint per ~90 runs).
 */
export const DEFAULT_CHECKPOINTER: CheckpointerOptions = { intervalMs: 2_000, maxWalBytes: 4 * 1024 * 1024 };

/** Bytes of WAL a crash now would leave to replay: from the last checkpoint's redo point to the insert position. */
export async function walSinceCheckpoint(pglite: PGlite): Promise<number> {
  const { rows } = await pglite.query<{ bytes: string | number }>(
    'select (pg_current_wal_insert_lsn() - redo_lsn)::text as bytes from pg_control_checkpoint()',
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** Starts checkpointing `pglite` by WAL volume; the timer does not keep the process alive. */
export function startCheckpointer(pglite: PGlite, options: CheckpointerOptions): Checkpointer {
  const stats: CheckpointStats = { checkpoints: 0, totalMs: 0, maxMs: 0 };
  let running: Promise<void> | undefined;
  let stopped = false;
  const check = async () => {
    if (stopped || pglite.closed) return;
    if ((await walSinceCheckpoint(pglite)) < options.maxWalBytes) return;
    const t0 = performance.now();
    await pglite.exec('CHECKPOINT');
    const ms = performance.now() - t0;
    stats.checkpoints++;
    stats.totalMs += ms;
    stats.maxMs = Math.max(stats.maxMs, ms);
  };
  const tick = () => {
    // One at a time: a slow checkpoint is not queued again behind itself.
    running ??= check()
      .catch((error: unknown) => {
        if (!stopped) options.onError?.(error);
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  return {
    stats,
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
