import type { Store } from '#shared/ports/store';

/*
 * Which workflow an outbox row belongs to. Event rows carry their execution only; the workflow is on the
 * execution's row, and it never changes, so what was looked up once stays true and a bounded cache needs no
 * invalidation. Adding a workflow column to `events` would save the lookups, but each new execution costs one
 * read (its first event), and the SSE hub asks only while a `GET /stream?workflow=` is open, so the outbox's
 * write path and schema stay as they are.
 */

/** How many executions' workflows are kept, most recently used last. @default 10000 (about 1 MB) */
export const DEFAULT_EXECUTION_WORKFLOWS_CACHED = 10_000;

/** At most this many lookups at once (a page of rows from 500 new runs must not open 500 reads). */
const LOOKUP_CONCURRENCY = 16;

/**
 * execution id → workflow name, looked up in the store on a miss and kept in a bounded LRU cache.
 *
 * @example
 * const workflows = new ExecutionWorkflows(store);
 * await workflows.resolve(rows.map((r) => r.executionId));
 * const name = workflows.cached(rows[0].executionId); // 'agent-loop'
 */
export class ExecutionWorkflows {
  private readonly cache = new Map<string, string>();
  /** Store reads made (for tests: one per execution while it stays cached). */
  lookups = 0;

  constructor(
    private readonly store: Pick<Store, 'getExecution'>,
    private readonly capacity = DEFAULT_EXECUTION_WORKFLOWS_CACHED,
  ) {}

  /** The workflow of an execution already resolved, or undefined (never read from the store). */
  cached(executionId: string): string | undefined {
    const workflow = this.cache.get(executionId);
    if (workflow !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.cache.delete(executionId);
      this.cache.set(executionId, workflow);
    }
    return workflow;
  }

  /**
   * Reads the workflow of every execution not cached yet. An execution with no row (deleted) stays
   * unresolved; a failed read rejects, and the caller retries later.
   */
  async resolve(executionIds: Iterable<string>): Promise<void> {
    const missing = [...new Set(executionIds)].filter((id) => !this.cache.has(id));
    for (let i = 0; i < missing.length; i += LOOKUP_CONCURRENCY) {
      await Promise.all(
        missing.slice(i, i + LOOKUP_CONCURRENCY).map(async (id) => {
          this.lookups++;
          const row = await this.store.getExecution(id);
          if (row) this.remember(id, row.workflow);
        }),
      );
    }
  }

  private remember(executionId: string, workflow: string): void {
    this.cache.set(executionId, workflow);
    if (this.cache.size > this.capacity) {
      // The least recently used is the first key.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}
