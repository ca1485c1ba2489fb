import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import { type AcknowledgedRun, CHAOS_SERVICES_ENV } from './harness.ts';

/*
 * What every chaos scenario must leave true, counted with SQL on the store after the processes are done
 * (issue 11: "pass means"). Each count is of things that went wrong, so every one should be 0.
 */

/** Runs one SQL statement and returns its rows (PostgreSQL through `pg`, or PGlite opened directly). */
export type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** The counts of one scenario; all of them 0 is a pass. */
export interface InvariantCounts {
  /** Runs answered 201 whose row does not exist. */
  readonly acknowledgedLost: number;
  /** Acknowledged runs not in a terminal status after recovery. */
  readonly nonTerminal: number;
  /** Step rows still `running`. */
  readonly stepsRunning: number;
  /** budget_reservations rows still `reserved` (neither settled with a charge nor released). */
  readonly reservationsHeld: number;
  /** Executions whose cost_micros or saved_micros differ from the sum of their ledger rows. */
  readonly ledgerMismatch: number;
  /** Paid llm ledger rows beyond the distinct model calls the server answered for that run and state. */
  readonly chargedTwice: number;
  /** Completions the server delivered (paid) beyond the paid llm ledger rows for that run and state. */
  readonly paidMissing: number;
}

/** Counts that describe a scenario without being pass/fail (how many runs, how they ended). */
export interface ScenarioInfo {
  readonly runs: number;
  readonly statuses: Record<string, number>;
  readonly notes?: string[];
}

/** Opens a PostgreSQL database for the checks. */
export async function postgresQuery(url: string): Promise<{ query: Query; close: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
    close: () => client.end(),
  };
}

/**
 * Opens the PGlite store of a data directory (WFLO_DATA_DIR; the database is its `pgdata`) for the checks,
 * after the process that owned it has exited.
 */
export async function pgliteQuery(dataDir: string): Promise<{ query: Query; close: () => Promise<void> }> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create({ dataDir: join(dataDir, 'pgdata') });
  return {
    query: async (sql, params) => (await db.query<Record<string, unknown>>(sql, params as unknown[])).rows,
    close: () => db.close(),
  };
}

/**
 * Counts the invariants over the runs the API acknowledged (their rows, steps, reservations and ledger),
 * against what the model server says it delivered for each of them.
 */
export async function checkInvariants(
  query: Query,
  runs: readonly AcknowledgedRun[],
  server: Pick<ChaosOpenAiServer, 'answered'>,
): Promise<{ counts: InvariantCounts; statuses: Record<string, number>; details: string[] }> {
  const ids = runs.map((r) => r.executionId);
  const rows = await query('select id, status from executions where id = any($1::text[])', [ids]);
  const status = new Map(rows.map((r) => [String(r.id), String(r.status)]));
  const statuses: Record<string, number> = {};
  for (const id of ids) {
    const s = status.get(id) ?? 'lost';
    statuses[s] = (statuses[s] ?? 0) + 1;
  }
  const terminal = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'budget_exceeded']);
  const count = async (sql: string) => Number((await query(sql, [ids]))[0]?.n ?? 0);

  const stepsRunning = await count(
    `select count(*)::int as n from steps where execution_id = any($1::text[]) and status = 'running'`,
  );
  const reservationsHeld = await count(
    `select count(*)::int as n from budget_reservations where execution_id = any($1::text[]) and status = 'reserved'`,
  );
  const ledgerMismatch = await count(
    `select count(*)::int as n from executions e
       left join (select execution_id, sum(usd_micros) as usd, sum(saved_micros) as saved
                    from cost_entries group by execution_id) c on c.execution_id = e.id
      where e.id = any($1::text[])
        and (e.cost_micros <> coalesce(c.usd, 0) or e.saved_micros <> coalesce(c.saved, 0))`,
  );

  // Paid model calls per run and state, as the ledger has them (a cache hit is charged 0 and is no call).
  // Confirmed rows are calls a provider reported; unconfirmed ones are calls that may have been billed (a
  // process died, or the client gave up, while one was in flight). Charged twice: more confirmed rows than
  // distinct calls delivered. Missing: delivered calls beyond every row, confirmed or not.
  const ledger = await query(
    `select execution_id, state_name, count(*) filter (where confirmed)::int as paid,
            count(*)::int as recorded from cost_entries
      where execution_id = any($1::text[]) and kind = 'llm' and usd_micros > 0
      group by execution_id, state_name`,
    [ids],
  );
  const paidRows = new Map(ledger.map((r) => [`${r.execution_id}\u0000${r.state_name}`, Number(r.paid)]));
  const recordedRows = new Map(
    ledger.map((r) => [`${r.execution_id}\u0000${r.state_name}`, Number(r.recorded)]),
  );
  let chargedTwice = 0;
  let paidMissing = 0;
  const details: string[] = [];
  for (const run of runs) {
    const byState = new Map<string, { delivered: number; distinct: Set<string> }>();
    for (const call of server.answered(run.marker)) {
      const s = byState.get(call.state) ?? { delivered: 0, distinct: new Set<string>() };
      s.delivered++;
      s.distinct.add(call.requestHash);
      byState.set(call.state, s);
    }
    const states = new Set([
      ...byState.keys(),
      ...[...paidRows.keys()]
        .filter((k) => k.startsWith(`${run.executionId}\u0000`))
        .map((k) => k.split('\u0000')[1]!),
    ]);
    for (const state of states) {
      const paid = paidRows.get(`${run.executionId}\u0000${state}`) ?? 0;
      const answered = byState.get(state);
      const twice = Math.max(0, paid - (answered?.distinct.size ?? 0));
      const recorded = recordedRows.get(`${run.executionId}\u0000${state}`) ?? 0;
      const missing = Math.max(0, (answered?.delivered ?? 0) - recorded);
      chargedTwice += twice;
      paidMissing += missing;
      if (twice || missing) {
        details.push(
          `${run.executionId} ${state}: ${answered?.delivered ?? 0} delivered (${answered?.distinct.size ?? 0} distinct), ${paid} paid ledger rows`,
        );
      }
    }
  }

  return {
    counts: {
      acknowledgedLost: ids.filter((id) => !status.has(id)).length,
      nonTerminal: ids.filter((id) => status.has(id) && !terminal.has(status.get(id)!)).length,
      stepsRunning,
      reservationsHeld,
      ledgerMismatch,
      chargedTwice,
      paidMissing,
    },
    statuses,
    details,
  };
}

/** Where the scenarios append their rows for the table the global teardown prints. */
export const RESULTS_FILE = join(CHAOS_SERVICES_ENV.WFLO_SERVICES_DIR, 'results.jsonl');

/** Records one scenario's counts for the final table. */
export function recordScenario(scenario: string, counts: InvariantCounts, info: ScenarioInfo): void {
  appendFileSync(RESULTS_FILE, `${JSON.stringify({ scenario, counts, ...info })}\n`);
}

/** The table of every recorded scenario's counts (console.table), with each scenario's notes after it. */
export function printResults(file = RESULTS_FILE): void {
  if (!existsSync(file)) return;
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { scenario: string; counts: InvariantCounts } & ScenarioInfo);
  if (rows.length === 0) return;
  console.log('\nChaos suite: counts per scenario (every column but runs/statuses must be 0)');
  console.table(
    Object.fromEntries(
      rows.map((r) => [
        r.scenario,
        {
          runs: r.runs,
          lost: r.counts.acknowledgedLost,
          'non-terminal': r.counts.nonTerminal,
          'steps running': r.counts.stepsRunning,
          'reservations held': r.counts.reservationsHeld,
          'ledger≠rows': r.counts.ledgerMismatch,
          'charged twice': r.counts.chargedTwice,
          'paid, not in ledger': r.counts.paidMissing,
          statuses: Object.entries(r.statuses)
            .map(([s, n]) => `${s} ${n}`)
            .join(', '),
        },
      ]),
    ),
  );
  for (const r of rows) for (const n of r.notes ?? []) console.log(`  ${r.scenario}: ${n}`);
}
