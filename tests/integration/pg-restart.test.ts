import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migratePostgres, openPostgres } from '#local/engine/db/postgres';
import type { DbConnection } from '#shared/db/connection';
import { guardStore } from '#shared/db/errors';
import { StoreUnavailableError } from '#shared/errors';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';

// A PostgreSQL server of this file's own (port and directory apart from the shared one), because it is
// restarted for real while the other integration files use theirs.
const env = { ...process.env, WFLO_PG_PORT: '55433', WFLO_SERVICES_DIR: '/tmp/wflo-services-faults' };
// Asynchronous, so this process's event loop runs meanwhile and sees its connections cut, as a server would.
const services = async (command: string) =>
  (await promisify(execFile)('bash', ['tests/integration/services.sh', command], { env, timeout: 180_000 }))
    .stdout;

let conn: DbConnection;
let store: Store;

beforeAll(async () => {
  const url = /DATABASE_URL=(\S+)/.exec(await services('postgres'))?.[1];
  if (!url) throw new Error('services.sh printed no DATABASE_URL');
  conn = await openPostgres({ url, poolSize: 8 });
  await migratePostgres(conn);
  store = guardStore(createStore(conn));
});
afterAll(async () => {
  await conn?.close();
});

const newExecution = () => ({
  id: `hello-restart-${randomUUID().slice(0, 12)}`,
  workflow: 'hello',
  input: { name: 'a prompt that must not reach a log line' },
  budgetMicros: null,
  idempotencyKey: null,
  running: true,
});

describe('PostgreSQL restarts (real pg_ctl restart -m fast)', () => {
  it('an idle pool survives a restart: the process keeps running and the next statement succeeds', async () => {
    // Prepare: idle connections in the pool
    await Promise.all([store.listExecutions({ limit: 1 }), store.listExecutions({ limit: 1 })]);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

    // Act: the server cuts every session (57P01) and comes back
    await services('restart-postgres');

    // Assess: no unhandled 'error' event ended the test process (vitest fails a run on one), one warning
    // was printed, and the store answers on fresh connections
    const { execution } = await store.createExecution(newExecution());
    expect((await store.getExecution(execution.id))?.status).toBe('running');
    expect(warn.mock.calls.length).toBeLessThanOrEqual(1);
    warn.mockRestore();
  });

  it('under load, statements cut by the restart fail as StoreUnavailableError without SQL, and work resumes', async () => {
    // Prepare: 8 writers in a loop
    const errors: Error[] = [];
    let stop = false;
    let written = 0;
    const writer = async () => {
      while (!stop) {
        try {
          await store.createExecution(newExecution());
          written++;
        } catch (error) {
          errors.push(error as Error);
        }
      }
    };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const writers = Array.from({ length: 8 }, writer);

    // Act
    await services('restart-postgres');
    const before = written;
    // Every writer gets at least a few writes through after the restart.
    await vi.waitFor(() => expect(written - before).toBeGreaterThanOrEqual(16), {
      timeout: 60_000,
      interval: 50,
    });
    stop = true;
    await Promise.all(writers);
    warn.mockRestore();

    // Assess: every failure is the retryable error, naming the operation and a code, never the statement
    for (const error of errors) {
      expect(error, error.message).toBeInstanceOf(StoreUnavailableError);
      expect(error.message).toMatch(/^store unavailable during createExecution \(/);
      expect(error.message).not.toMatch(/insert|select|prompt/i);
    }
  });
});
