import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventHub, type Subscription } from '../../functions/api/event-hub.ts';
import { ExecutionWorkflows } from '../../functions/api/execution-workflows.ts';
import type { EventRow, ExecutionRow } from '../../functions/shared/ports/store.ts';

/*
 * Workflow subscriptions of the SSE hub (GET /stream?workflow=) over an in-memory outbox and execution table:
 * rows carry only their execution, so the hub looks each execution's workflow up once and filters by it.
 */

function outbox() {
  const visible: EventRow[] = [];
  const workflowOf = new Map<string, string>();
  let failLookups = 0;
  const store = {
    // Every row is committed when it becomes visible and nothing is left running: xmin = xmax.
    readOutbox: async (after: number, limit: number) => {
      const rows = visible.filter((r) => r.id > after).slice(0, limit);
      return { rows, xmin: rows.length ? 1 : 0, xmax: rows.length ? 1 : 0 };
    },
    outboxHead: async () => ({ head: visible.at(-1)?.id ?? 0, xmin: 1, xmax: 1 }),
    getExecution: vi.fn(async (id: string) => {
      if (failLookups > 0) {
        failLookups--;
        throw new Error('database restarting');
      }
      const workflow = workflowOf.get(id);
      return workflow === undefined ? undefined : ({ id, workflow } as ExecutionRow);
    }),
  };
  return {
    store,
    run(executionId: string, workflow: string) {
      workflowOf.set(executionId, workflow);
    },
    commit(id: number, executionId: string) {
      visible.push({
        id,
        eventId: `ev-${id}`,
        executionId,
        type: 'step.started',
        payload: {},
        createdAt: new Date(),
      });
    },
    failNextLookups(n: number) {
      failLookups = n;
    },
  };
}

const take = async (sub: Subscription, n: number, within = 2_000) => {
  const got: { id: number; executionId: string }[] = [];
  const until = Date.now() + within;
  while (got.length < n && Date.now() < until) {
    got.push(...(await sub.next(50)).map((e) => ({ id: e.row.id, executionId: e.row.executionId })));
  }
  return got;
};

let open: Subscription[] = [];
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

describe('Class: EventHub (workflow subscriptions)', () => {
  it('hands a workflow subscriber every event of its runs, runs started after it subscribed included, and no other', async () => {
    // Prepare: two workflows, a run of each before the subscription
    const o = outbox();
    o.run('a-1', 'alpha');
    o.run('b-1', 'beta');
    o.commit(1, 'a-1');
    const hub = new EventHub(o.store, { pollMs: 10 });
    const alpha = await hub.subscribeWorkflow('alpha');
    const runOfA = await hub.subscribe('a-1');
    open = [alpha, runOfA];

    // Act: both runs go on, and a new alpha run starts
    o.commit(2, 'a-1');
    o.commit(3, 'b-1');
    o.run('a-2', 'alpha');
    o.commit(4, 'a-2');
    o.commit(5, 'b-1');
    o.commit(6, 'a-1');
    const got = await take(alpha, 3);
    const extra = await alpha.next(100);

    // Assess: alpha's rows in order; the per-run subscriber still gets its run; one lookup per execution
    expect(got).toEqual([
      { id: 2, executionId: 'a-1' },
      { id: 4, executionId: 'a-2' },
      { id: 6, executionId: 'a-1' },
    ]);
    expect(extra).toEqual([]);
    expect((await take(runOfA, 2)).map((e) => e.id)).toEqual([2, 6]);
    expect(o.store.getExecution).toHaveBeenCalledTimes(3);
    expect(alpha.upTo).toBe(6);
  });

  it('does not look workflows up while no workflow subscriber is open', async () => {
    const o = outbox();
    o.run('a-1', 'alpha');
    const hub = new EventHub(o.store, { pollMs: 10 });
    const sub = await hub.subscribe('a-1');
    open = [sub];
    o.commit(1, 'a-1');
    expect((await take(sub, 1)).map((e) => e.id)).toEqual([1]);
    expect(o.store.getExecution).not.toHaveBeenCalled();
  });

  it('retries a failed lookup with the same rows at the next poll: nothing is skipped', async () => {
    // Prepare
    const o = outbox();
    o.run('a-1', 'alpha');
    const hub = new EventHub(o.store, { pollMs: 10 });
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const alpha = await hub.subscribeWorkflow('alpha');
      open = [alpha];

      // Act: the first two lookups fail
      o.failNextLookups(2);
      o.commit(1, 'a-1');
      o.commit(2, 'a-1');
      const got = await take(alpha, 2);

      // Assess
      expect(got.map((e) => e.id)).toEqual([1, 2]);
      expect(errors).toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });
});

describe('Class: ExecutionWorkflows', () => {
  it('keeps at most its capacity, dropping the least recently used', async () => {
    // Prepare
    const o = outbox();
    for (const id of ['r1', 'r2', 'r3']) o.run(id, `wf-${id}`);
    const workflows = new ExecutionWorkflows(o.store, 2);

    // Act: r1 and r2 cached, r1 used, then r3 pushes out the least recently used (r2)
    await workflows.resolve(['r1', 'r2', 'r1']);
    expect(workflows.cached('r1')).toBe('wf-r1');
    await workflows.resolve(['r3']);

    // Assess
    expect(workflows.cached('r2')).toBeUndefined();
    expect(workflows.cached('r1')).toBe('wf-r1');
    expect(workflows.cached('r3')).toBe('wf-r3');
    expect(workflows.lookups).toBe(3);
  });
});
