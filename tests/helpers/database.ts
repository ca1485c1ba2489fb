import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * With DATABASE_URL set (integration runs), each test file gets a database of its own on that server, so
 * files running in parallel never see each other's rows. Without it, tests use in-memory PGlite.
 */
export async function createTestDatabase(
  admin: string | undefined = process.env.DATABASE_URL,
): Promise<{ url: string | undefined; drop(): Promise<void> }> {
  if (!admin) return { url: undefined, drop: async () => {} };
  const name = `wflo_t_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      // pg's Pool.end() resolves before its sockets have closed; a forced drop would then kill live
      // connections (57P01 errors in the test run), so wait for them to go first.
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        for (let i = 0; i < 40; i++) {
          const { rows } = await c.query(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
            [name],
          );
          if (rows[0].n === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A store over a fresh test database: PostgreSQL when DATABASE_URL is set, in-memory PGlite otherwise. */
export async function openTestStore() {
  const { openDb } = await import('#local/engine/db/client');
  const { createStore } = await import('#shared/store/create-store');
  const db = await createTestDatabase();
  const conn = await openDb(
    db.url ? { kind: 'postgres', url: db.url, poolSize: 10 } : { kind: 'pglite', dataDir: 'memory://' },
  );
  const store = createStore(conn);
  return {
    store,
    close: async () => {
      await store.close();
      await db.drop();
    },
  };
}

/** An open connection to a fresh test database (PostgreSQL with DATABASE_URL, in-memory PGlite otherwise). */
export async function openTestConnection() {
  const { openDb } = await import('#local/engine/db/client');
  const db = await createTestDatabase();
  const conn = await openDb(
    db.url ? { kind: 'postgres', url: db.url, poolSize: 10 } : { kind: 'pglite', dataDir: 'memory://' },
  );
  return { conn, drop: db.drop };
}
