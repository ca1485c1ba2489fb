import { loadConfig } from '#shared/config';
import { closeRuntime } from '#shared/runtime';
import type { LocalIntegration } from '../../infra/local/orchestrator.ts';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/runtime.ts';
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
