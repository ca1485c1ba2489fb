import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type Store, TERMINAL_STATUSES } from '#shared/ports/store';

/**
 * What the local sandbox can tell the metrics about its load (LocalSandbox's `queueLength` and `running`
 * from its admission control). Parts it does not report (not a number) are left out of the metrics.
 */
export interface SandboxLoad {
  /** Runs waiting for a sandbox slot. */
  readonly queueLength?: number;
  /** Sandboxed programs running now. */
  readonly running?: number;
}

/** The Prometheus view of `wflo dev`: `render()` is the body of `GET /metrics`. */
export interface LocalMetrics {
  readonly contentType: string;
  render(): Promise<string>;
  /** Counts a start refused by admission control (429). */
  rejected(): void;
}

/** Step latencies from 10 ms (a cached LLM call) to 15 min (the longest Lambda and sandbox steps). */
const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
/** Rows read per store call while following executions. */
const PAGE = 200;
/**
 * New executions are found by reading the newest first, down to this far before the newest seen at the last
 * scrape: a row created a little earlier can commit a little later.
 */
const LISTING_OVERLAP_MS = 60_000;

const MICROS_PER_USD = 1_000_000;

interface Followed {
  readonly workflow: string;
  /** Last event id read. */
  after: number;
}

/**
 * Prometheus metrics (prom-client) for the executions this server started since it started: finished runs
 * by workflow and status, their cost and saving in dollars, step latencies by activity, response-cache
 * hits, runs in flight against the admission bound, refused starts, and the sandbox's queue.
 *
 * Read from the store at scrape time, through the store port only: each scrape lists the executions created
 * since the previous one and reads the new events of those not yet finished (so its work grows with the
 * runs in flight, which admission bounds, not with the history). A finished execution is counted once.
 */
export function createLocalMetrics(deps: {
  store: Store;
  runsInFlight: () => number;
  maxRunsInFlight: number;
  sandbox?: SandboxLoad | undefined;
  /** Executions created before this are not counted. @default now */
  since?: Date;
}): LocalMetrics {
  const registry = new Registry();
  const registers = [registry];
  const executions = new Counter({
    name: 'wflo_executions_total',
    help: 'Executions started by this server that finished, by workflow and final status',
    labelNames: ['workflow', 'status'] as const,
    registers,
  });
  const active = new Gauge({
    name: 'wflo_executions_active',
    help: 'Executions started by this server that have not finished, by workflow and status',
    labelNames: ['workflow', 'status'] as const,
    registers,
  });
  const cost = new Counter({
    name: 'wflo_execution_cost_dollars_total',
    help: 'What finished executions cost (USD), by workflow',
    labelNames: ['workflow'] as const,
    registers,
  });
  const saved = new Counter({
    name: 'wflo_execution_saved_dollars_total',
    help: 'What the response cache saved finished executions (USD), by workflow',
    labelNames: ['workflow'] as const,
    registers,
  });
  const steps = new Histogram({
    name: 'wflo_step_duration_seconds',
    help: 'Duration of each activity step attempt, by workflow, activity and outcome',
    labelNames: ['workflow', 'activity', 'status'] as const,
    buckets: STEP_BUCKETS,
    registers,
  });
  const cacheHits = new Counter({
    name: 'wflo_cache_hits_total',
    help: 'LLM calls answered from the response cache, by workflow',
    labelNames: ['workflow'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'wflo_admission_rejected_total',
    help: 'Execution starts refused with 429 because the runs in flight were at the bound',
    registers,
  });
  new Gauge({
    name: 'wflo_runs_in_flight',
    help: 'Executions running in this process now',
    registers,
    collect() {
      this.set(deps.runsInFlight());
    },
  });
  new Gauge({
    name: 'wflo_runs_in_flight_limit',
    help: 'Runs in flight at which starts are refused (WFLO_MAX_RUNS_IN_FLIGHT)',
    registers,
    collect() {
      this.set(deps.maxRunsInFlight);
    },
  });
  const sandbox = deps.sandbox;
  const sandboxGauges = [
    ['queueLength', 'wflo_sandbox_queue_length', 'Sandbox runs waiting for a slot'],
    ['running', 'wflo_sandbox_running', 'Sandboxed programs running now'],
  ] as const;
  for (const [part, name, help] of sandboxGauges) {
    if (typeof sandbox?.[part] !== 'number') continue;
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(sandbox[part] ?? 0);
      },
    });
  }

  const since = deps.since ?? new Date();
  const followed = new Map<string, Followed>();
  /** Executions already followed, by id → creation time (forgotten once older than any listing reads). */
  const seen = new Map<string, number>();
  let newestSeen = since.getTime();

  /** Adds the executions created since the last listing to those followed. */
  async function discover() {
    const floor = Math.max(since.getTime(), newestSeen - LISTING_OVERLAP_MS);
    for (const [id, created] of seen) if (created < floor) seen.delete(id);
    let cursor: string | undefined;
    for (;;) {
      const page = await deps.store.listExecutions({ limit: PAGE, cursor });
      for (const row of page.items) {
        const created = row.createdAt.getTime();
        if (created < floor) return;
        newestSeen = Math.max(newestSeen, created);
        if (seen.has(row.id)) continue;
        seen.set(row.id, created);
        followed.set(row.id, { workflow: row.workflow, after: 0 });
      }
      if (!page.nextCursor) return;
      cursor = page.nextCursor;
    }
  }

  /** Reads an execution's new events into the step and cache metrics. */
  async function readEvents(id: string, f: Followed) {
    for (;;) {
      const events = await deps.store.listEvents(id, f.after, PAGE);
      for (const e of events) {
        if (e.type === 'step.succeeded' || e.type === 'step.failed') {
          const p = e.payload as { activity?: unknown; durationMs?: unknown };
          if (typeof p.durationMs === 'number') {
            steps.observe(
              { workflow: f.workflow, activity: String(p.activity), status: e.type.slice(5) },
              p.durationMs / 1000,
            );
          }
        } else if (e.type === 'cache.hit') {
          cacheHits.inc({ workflow: f.workflow });
        }
      }
      if (events.length < PAGE) {
        f.after = events.at(-1)?.id ?? f.after;
        return;
      }
      f.after = events.at(-1)!.id;
    }
  }

  async function refresh() {
    await discover();
    active.reset();
    for (const [id, f] of followed) {
      // The status is read before the events: once it is final, every event of the run is there to read.
      const row = await deps.store.getExecution(id);
      if (!row) {
        followed.delete(id);
        continue;
      }
      await readEvents(id, f);
      if (TERMINAL_STATUSES.includes(row.status)) {
        executions.inc({ workflow: f.workflow, status: row.status });
        cost.inc({ workflow: f.workflow }, row.costMicros / MICROS_PER_USD);
        saved.inc({ workflow: f.workflow }, row.savedMicros / MICROS_PER_USD);
        followed.delete(id);
      } else {
        active.inc({ workflow: f.workflow, status: row.status });
      }
    }
  }

  // Scrapes take turns, so no event is read (and counted) twice.
  let last: Promise<unknown> = Promise.resolve();
  return {
    contentType: registry.contentType,
    render() {
      const next = last.then(async () => {
        await refresh();
        return registry.metrics();
      });
      last = next.catch(() => {});
      return next;
    },
    rejected: () => rejected.inc(),
  };
}
