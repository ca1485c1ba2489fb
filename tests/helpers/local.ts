import { closeRuntime } from '#local/engine/wiring';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import type { LocalIntegration } from '../../infra/local/engine/orchestrator.ts';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { createTestDatabase } from './database.ts';

export const TEST_SCRIPT = 'tests/fixtures/scripts/test-agent.json';
export const TEST_MODEL = { provider: 'scripted', name: 'test-agent' } as const;

const drops = new WeakMap<LocalRuntime, () => Promise<void>>();

/**
 * The embedded target as `wflo` builds it, with the test script loaded and retries immediate (their count
 * and order are still the ASL's). The store is in-memory PGlite, or — when DATABASE_URL is set, as in
 * `npm run test:integration` — a fresh database on that PostgreSQL server; the response cache is the
 * store's table, or Redis when REDIS_URL is set.
 */
export async function startLocal(
  env: Record<string, string> = {},
  /** Local service integrations replacing the defaults (e.g. a sandbox with its own host uid). */
  integrations?: ReadonlyMap<string, LocalIntegration>,
): Promise<LocalRuntime> {
  const db = await createTestDatabase();
  const config = loadConfig({
    WFLO_DATA_DIR: 'memory://',
    LLM_SCRIPT_FILE: TEST_SCRIPT,
    ...(db.url ? { DATABASE_URL: db.url } : {}),
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...env,
  });
  const local = await createLocalRuntime(config, {
    retryIntervalScale: 0,
    ...(integrations ? { integrations } : {}),
  });
  drops.set(local, db.drop);
  return local;
}

export async function stopLocal(local: LocalRuntime | undefined): Promise<void> {
  if (local) {
    await local.close();
    await drops.get(local)?.();
  } else await closeRuntime();
}

/**
 * Starts a workflow through the same service the API uses, waits for the end, and reads back what the
 * store holds about it: the execution row, its steps, its whole ledger and its events.
 */
export async function runToEnd(
  local: LocalRuntime,
  workflow: string,
  input: Record<string, unknown>,
  budgetMicros: number | null = null,
) {
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow, input, budgetMicros },
  );
  await local.orchestrator.drain();
  const store = local.runtime.store;
  return {
    execution: (await store.getExecution(execution.id))!,
    steps: await store.listSteps(execution.id),
    ledger: await store.listCosts(execution.id),
    events: await store.listEvents(execution.id, 0, 1000),
  };
}
