import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import type { ChaosOpenAiServer } from '../helpers/chaos-openai-server.ts';
import { type AcknowledgedRun, chaosServiceUrls } from './harness.ts';
import { checkInvariants, type InvariantCounts, type Query, recordScenario } from './invariants.ts';
import { freshDataDirPath } from './paths.ts';

/* What the chaos scenarios share beyond the process harness: a fresh store each, and the assessment. */

/** A new, empty database on the chaos PostgreSQL server (one per scenario: the counts are its own). */
export async function freshDatabase(name: string): Promise<string> {
  const { postgresUrl } = await chaosServiceUrls();
  const db = `chaos_${name.replace(/\W/g, '_')}_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${db}"`);
  } finally {
    await admin.end();
  }
  return postgresUrl.replace(/\/postgres$/, `/${db}`);
}

/** A new, empty PGlite data directory (the parent is 0700 like a user's). */
export const freshDataDir = freshDataDirPath;

/**
 * Counts the invariants, records them for the final table, and fails the test on each that is not 0 —
 * all of them assessed (soft), so one failure does not hide the others.
 */
export async function assessAndRecord(
  scenario: string,
  query: Query,
  runs: readonly AcknowledgedRun[],
  server: ChaosOpenAiServer,
  notes: string[] = [],
): Promise<InvariantCounts> {
  const { counts, statuses, details } = await checkInvariants(query, runs, server);
  const s = server.stats();
  recordScenario(scenario, counts, {
    runs: runs.length,
    statuses,
    notes: [
      ...notes,
      ...details.slice(0, 10),
      `model server: ${s.received} requests, ${s.delivered} completions delivered, ${s.abandoned} abandoned by the client, faults ${JSON.stringify(s.faults)}`,
    ],
  });
  for (const [name, value] of Object.entries(counts)) {
    expect.soft(value, `${scenario}: ${name}`).toBe(0);
  }
  return counts;
}
