import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EXECUTION_STATUSES, TERMINAL_STATUSES } from '#shared/ports/store';
import { chaosMarker } from '../helpers/chaos-openai-server.ts';

/*
 * Real processes for the chaos suite and the recovery benchmark (no vitest here, so the benchmark can use
 * it): `wflo dev` spawned as a user starts it, runs started through its HTTP API, the services script that
 * starts, stops and restarts PostgreSQL and Redis on the chaos suite's own ports.
 */

/**
 * The chaos suite's own PostgreSQL and Redis (ports and directory apart from the integration suite's). The
 * same variables services.sh reads move them, so two checkouts on one machine can each run the suite:
 * `WFLO_SERVICES_DIR=/tmp/wflo-services-b WFLO_PG_PORT=55462 WFLO_REDIS_PORT=56409 npm run test:chaos`.
 */
export const CHAOS_SERVICES_ENV = {
  WFLO_SERVICES_DIR: process.env.WFLO_SERVICES_DIR || '/tmp/wflo-services-chaos',
  WFLO_PG_PORT: process.env.WFLO_PG_PORT || '55452',
  WFLO_REDIS_PORT: process.env.WFLO_REDIS_PORT || '56399',
} as const;

/** Runs tests/integration/services.sh with the chaos ports; returns what it printed on stdout. */
export async function services(...commands: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', ['tests/integration/services.sh', ...commands], {
    env: { ...process.env, ...CHAOS_SERVICES_ENV },
    timeout: 240_000,
  });
  return stdout;
}

/** The chaos PostgreSQL server's admin URL (database `postgres`) and Redis URL, starting them if needed. */
export async function chaosServiceUrls(): Promise<{ postgresUrl: string; redisUrl: string }> {
  const out = await services('postgres', 'redis');
  const db = /DATABASE_URL=(\S+)/.exec(out)?.[1];
  const redisUrl = /REDIS_URL=(\S+)/.exec(out)?.[1];
  if (!db || !redisUrl) throw new Error(`services.sh printed no URLs:\n${out}`);
  return { postgresUrl: db.replace(/\/[^/]+$/, '/postgres'), redisUrl };
}

/** A `wflo dev` process: its API, what it printed, and the ways it ends. */
export interface DevProcess {
  readonly url: string;
  readonly pid: number;
  /** Every line it printed so far, stdout and stderr. */
  readonly lines: string[];
  /** Resolves with the exit code (null after a signal) once it has exited. */
  readonly exited: Promise<number | null>;
  exitCode(): number | null | undefined;
  /** kill -9: no handler runs, nothing is flushed. */
  kill9(): Promise<void>;
  /** Ctrl+C; kill -9 after `graceMs` if it has not exited by then. */
  stop(graceMs?: number): Promise<void>;
}

/** The environment `wflo dev` runs with: the chaos model server, no token, no leftover store settings. */
export function devEnv(options: {
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  openAiUrl: string;
  llmTimeoutMs?: number;
  extra?: Record<string, string>;
}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WFLO_DATA_DIR: options.dataDir,
    DATABASE_URL: options.databaseUrl ?? '',
    REDIS_URL: options.redisUrl ?? '',
    LLM_PROVIDER: 'openai-compatible',
    LLM_MODEL: 'gpt-4o-mini',
    OPENAI_BASE_URL: options.openAiUrl,
    OPENAI_API_KEY: 'chaos-test-key',
    LLM_TIMEOUT_MS: String(options.llmTimeoutMs ?? 30_000),
    WFLO_MAX_RUNS_IN_FLIGHT: '1000',
    WFLO_API_TOKEN: '',
    WFLO_API_URL: '',
    LLM_SCRIPT_FILE: '',
    POWERTOOLS_LOG_LEVEL: 'WARN',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...options.extra,
  };
}

/** Starts `node infra/local/bin/wflo.mjs dev --port 0` and resolves once it serves (bounded by `timeoutMs`). */
export function startDev(env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<DevProcess> {
  const child: ChildProcess = spawn(process.execPath, ['infra/local/bin/wflo.mjs', 'dev', '--port', '0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (c) => {
      code = c;
      resolve(c);
    }),
  );
  const collect = (stream: NodeJS.ReadableStream) => {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const text = rest + chunk.toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
  };
  // Kept for a look after a failure: <services dir>/logs/dev-<pid>.log.
  const logDir = join(CHAOS_SERVICES_ENV.WFLO_SERVICES_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `dev-${child.pid}.log`);
  const keep = (text: string) => appendFileSync(logFile, text);
  child.stdout!.on('data', (chunk: Buffer) => keep(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => keep(chunk.toString('utf8')));
  collect(child.stdout!);
  collect(child.stderr!);
  const proc = (url: string): DevProcess => ({
    url,
    pid: child.pid!,
    lines,
    exited,
    exitCode: () => code,
    async kill9() {
      if (code === undefined) process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
    async stop(graceMs = 30_000) {
      if (code !== undefined) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => {
        if (code === undefined) process.kill(child.pid!, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wflo dev did not serve within ${timeoutMs} ms:\n${lines.join('\n')}`));
    }, timeoutMs);
    const poll = setInterval(() => {
      const line = lines.find((l) => /^\s+API\s+http:\/\//.test(l));
      if (line && lines.some((l) => l.includes('Ctrl+C stops the server.'))) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(proc(/(http:\/\/\S+)/.exec(line)![1]!));
      }
    }, 50);
    void exited.then((c) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`wflo dev exited (${c}) before serving:\n${lines.join('\n')}`));
    });
  });
}

/** A run the API acknowledged (201): its execution id and the marker its requests carry. */
export interface AcknowledgedRun {
  readonly executionId: string;
  readonly marker: string;
}

/** What starting runs gave: the acknowledged ones and how the others were refused. */
export interface Started {
  readonly acknowledged: AcknowledgedRun[];
  readonly refused: string[];
}

/**
 * Starts `count` agent-loop runs through the API, `concurrency` requests at a time; each goal carries the
 * marker `<prefix>-<i>` the model server counts its calls by.
 */
export async function startRuns(
  url: string,
  count: number,
  prefix: string,
  options: {
    concurrency?: number;
    budgetUsd?: number;
    /**
     * Send each start again, with the same idempotencyKey, when its request fails on the network (a loaded
     * machine drops a connection now and then: the benchmark's runs must all start so both phases run the same
     * workload). 0 (the chaos scenarios, which count refusals): no key, no retry.
     */
    retries?: number;
  } = {},
): Promise<Started> {
  const acknowledged: AcknowledgedRun[] = [];
  const refused: string[] = [];
  let next = 0;
  const retries = options.retries ?? 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const marker = `${prefix}-${i}`;
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await fetch(`${url}/workflows/agent-loop/executions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              input: { goal: `${chaosMarker(marker)} write a haiku about queues`, maxIterations: 2 },
              budgetUsd: options.budgetUsd ?? 0.05,
              ...(retries > 0 ? { idempotencyKey: marker } : {}),
            }),
          });
          const body = (await res.json()) as { executionId?: string; error?: unknown };
          // 200: an earlier attempt with this key was accepted after all; it is that run.
          if ((res.status === 201 || (retries > 0 && res.status === 200)) && body.executionId)
            acknowledged.push({ executionId: body.executionId, marker });
          else refused.push(`${res.status} ${JSON.stringify(body).slice(0, 200)}`);
          break;
        } catch (error) {
          if (attempt < retries) continue;
          const cause = (error as Error).cause as Error | undefined;
          refused.push(`request failed: ${(error as Error).message}${cause ? ` (${cause.message})` : ''}`);
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 10, count) }, worker));
  return { acknowledged, refused };
}

const TERMINAL = new Set<string>(TERMINAL_STATUSES);

/** How waiting for runs to end went. */
export interface WaitOutcome {
  /** Every run terminal, or why the wait stopped: its deadline, or no progress for a while. */
  readonly ended: 'all-terminal' | 'deadline' | 'stalled';
  readonly ms: number;
  /** `performance.now()` when the wait saw the outcome (for all-terminal: the round that listed no run left). */
  readonly endedAt: number;
  readonly terminal: number;
  readonly statuses: Record<string, number>;
}

/** The statuses a run can still leave, in the order a run moves through them. */
const UNFINISHED = EXECUTION_STATUSES.filter((s) => !TERMINAL.has(s));

/** The ids among `ids` the API lists as unfinished (every page of each unfinished status), or undefined. */
async function listUnfinished(url: string, ids: ReadonlySet<string>): Promise<Set<string> | undefined> {
  const unfinished = new Set<string>();
  try {
    for (const status of UNFINISHED) {
      let cursor: string | undefined;
      do {
        const query = new URLSearchParams({ status, limit: '100', ...(cursor ? { cursor } : {}) });
        const res = await fetch(`${url}/executions?${query}`);
        if (res.status !== 200) return undefined;
        const page = (await res.json()) as { items: { executionId: string }[]; nextCursor: string | null };
        for (const item of page.items) if (ids.has(item.executionId)) unfinished.add(item.executionId);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
  } catch {
    return undefined; // The server is busy or restarting: asked again on the next round.
  }
  return unfinished;
}

/** Each run's status from `GET /executions/{id}`, 20 requests at a time (a run it cannot read is left out). */
async function readStatuses(url: string, ids: readonly string[]): Promise<Map<string, string>> {
  const status = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(
      ids.slice(i, i + 20).map(async (id) => {
        try {
          const res = await fetch(`${url}/executions/${encodeURIComponent(id)}`);
          if (res.status === 200) status.set(id, ((await res.json()) as { status: string }).status);
        } catch {
          // The server is busy or restarting: the run counts as not terminal.
        }
      }),
    );
  }
  return status;
}

/**
 * Waits until every run is terminal, the deadline passes, or nothing progressed (no run ended and `activity()`
 * did not change) for `stallMs`: a run that resumes calls its model or ends well within that, so a stall means
 * nothing is resuming and waiting longer would only spend the budget. Each round (every `intervalMs`, 200 ms by
 * default) lists the unfinished runs (`GET /executions?status=…`, a few requests) instead of reading every run,
 * so the wait costs the measured process little and ends close to the moment the last run did; a round that
 * lists none of `ids` is confirmed run by run (`GET /executions/{id}`) before the wait ends. `endedAt` is the
 * `performance.now()` of the round that saw the last run end, before that confirmation.
 */
export async function waitTerminal(
  url: string,
  ids: readonly string[],
  options: { timeoutMs: number; stallMs?: number; activity?: () => number; intervalMs?: number },
): Promise<WaitOutcome> {
  const t0 = performance.now();
  const wanted = new Set(ids);
  let lastProgress = t0;
  let lastActivity = options.activity?.();
  let lastUnfinished = Number.POSITIVE_INFINITY;
  for (;;) {
    const unfinished = await listUnfinished(url, wanted);
    const now = performance.now();
    if (unfinished?.size === 0) {
      const status = await readStatuses(url, ids);
      if (ids.every((id) => TERMINAL.has(status.get(id) ?? ''))) {
        return outcome('all-terminal', t0, now, ids, status);
      }
    }
    const activity = options.activity?.();
    if ((unfinished && unfinished.size < lastUnfinished) || activity !== lastActivity) lastProgress = now;
    if (unfinished) lastUnfinished = unfinished.size;
    lastActivity = activity;
    const stalled = options.stallMs !== undefined && now - lastProgress > options.stallMs;
    if (stalled || now - t0 > options.timeoutMs) {
      return outcome(stalled ? 'stalled' : 'deadline', t0, now, ids, await readStatuses(url, ids));
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 200));
  }
}

function outcome(
  ended: WaitOutcome['ended'],
  t0: number,
  endedAt: number,
  ids: readonly string[],
  status: ReadonlyMap<string, string>,
): WaitOutcome {
  const statuses: Record<string, number> = {};
  for (const id of ids) {
    const s = status.get(id) ?? 'unknown';
    statuses[s] = (statuses[s] ?? 0) + 1;
  }
  return {
    ended,
    ms: Math.round(endedAt - t0),
    endedAt,
    terminal: ids.filter((id) => TERMINAL.has(status.get(id) ?? '')).length,
    statuses,
  };
}

/** Resolves once `check()` is true, or throws after `timeoutMs` naming what was awaited. */
export async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
