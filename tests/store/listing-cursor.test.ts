import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbConnection } from '#shared/db/connection';
import type { Store } from '#shared/ports/store';
import { createStore } from '#shared/store/create-store';
import { openTestConnection } from '../helpers/database.ts';

let conn: DbConnection;
let drop: () => Promise<void>;
let store: Store;
beforeAll(async () => {
  ({ conn, drop } = await openTestConnection());
  store = createStore(conn);
}, 120_000);
afterAll(async () => {
  await store.close();
  await drop();
});

/** Every page of the workflow's executions, `limit` at a time, following the API's cursor. */
async function pageAll(workflow: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listExecutions({ workflow, limit, cursor });
    ids.push(...page.items.map((e) => e.id));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

describe('execution pages', () => {
  it('skip no run created in the same millisecond as the cursor row (the store keeps microseconds)', async () => {
    // Prepare: five runs in one millisecond, at distinct microseconds, ids in the reverse order of creation.
    const ids = ['cur-e', 'cur-d', 'cur-c', 'cur-b', 'cur-a'];
    for (const id of ids) await store.createExecution({ id, workflow: 'same-ms', input: {} });
    for (const [i, id] of ids.entries()) {
      const at = `2026-11-30T08:00:00.123${String(100 + i * 150).padStart(3, '0')}Z`;
      await conn.db.execute(sql`update executions set created_at = ${at}::timestamptz where id = ${id}`);
    }

    // Act
    const byOne = await pageAll('same-ms', 1);
    const byTwo = await pageAll('same-ms', 2);

    // Assess: newest first, each run exactly once, whatever the page size.
    expect(byOne).toEqual([...ids].reverse());
    expect(byTwo).toEqual([...ids].reverse());
  });

  it('carries on from the cursor millisecond when the cursor row is gone', async () => {
    // Prepare
    for (const id of ['gone-1', 'gone-2', 'gone-3'])
      await store.createExecution({ id, workflow: 'gone', input: {} });
    const first = await store.listExecutions({ workflow: 'gone', limit: 1 });
    await conn.db.execute(sql`delete from executions where id = ${first.items[0]!.id}`);

    // Act
    const rest = await store.listExecutions({ workflow: 'gone', limit: 5, cursor: first.nextCursor });

    // Assess
    expect(rest.items.map((e) => e.id)).not.toContain(first.items[0]!.id);
    expect(rest.items).toHaveLength(2);
  });
});
