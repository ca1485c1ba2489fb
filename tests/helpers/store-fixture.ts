import { afterAll, beforeAll } from 'vitest';
import type { Store } from '#shared/ports/store';
import { openTestStore } from './database.ts';

/**
 * The store of one test file: opened on a fresh test database before its tests (PostgreSQL with DATABASE_URL,
 * in-memory PGlite otherwise), closed and dropped after them. `newId()` gives execution ids unique to the file
 * (`<prefix>-…`); `execution(budgetMicros)` writes a pending execution of workflow `w` and returns its id.
 */
export function useTestStore(prefix: string) {
  let opened: Awaited<ReturnType<typeof openTestStore>> | undefined;
  let n = 0;
  beforeAll(async () => {
    opened = await openTestStore();
  });
  afterAll(async () => {
    await opened?.close();
  });
  const fixture = {
    get store(): Store {
      if (!opened) throw new Error('the test store is opened in beforeAll: use it inside a test');
      return opened.store;
    },
    newId: () => `${prefix}-${Date.now()}-${n++}`,
    async execution(budgetMicros: number | null): Promise<string> {
      const id = fixture.newId();
      await fixture.store.createExecution({ id, workflow: 'w', input: {}, budgetMicros });
      return id;
    },
  };
  return fixture;
}
