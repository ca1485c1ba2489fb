import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_AGENT_ITERATIONS, MAX_INPUT_DEPTH } from '#shared/workflow-inputs';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

let local: LocalRuntime;
let server: Awaited<ReturnType<typeof startLocalServer>>;
let base: string;

beforeAll(async () => {
  local = await startLocal();
  server = await startLocalServer(local, { port: 0, host: '127.0.0.1' });
  base = server.url;
});
afterAll(async () => {
  await server.close();
  await stopLocal(local);
});

async function post(path: string, body: unknown, raw = false, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

async function get(path: string) {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function executionCount(): Promise<number> {
  const page = await local.runtime.store.listExecutions({ limit: 100 });
  return page.items.length;
}

async function waitForEnd(id: string) {
  await local.orchestrator.drain();
  return (await get(`/executions/${id}`)).body;
}

describe('API over HTTP (local server)', () => {
  it('GET /health answers ok with the store kind', async () => {
    const { status, body } = await get('/health');
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok', store: local.runtime.store.kind });
  });

  it('GET /workflows lists every ASL file with its Comment', async () => {
    const { body } = await get('/workflows');
    const items = body.items as { name: string; description: string }[];
    expect(items.map((w) => w.name)).toEqual(['agent-loop', 'code-execution', 'code-review-gate', 'hello']);
    expect(items[0]!.description).toMatch(/^Agent loop/);
    // Each workflow's declared input (statemachines/<name>.input.json) comes with it.
    const agent = items[0] as unknown as { inputSchema: { required?: string[] } | null };
    expect(agent.inputSchema?.required).toEqual(['goal']);
  });

  it('POST /workflows/{name}/executions starts a run; its steps, costs and events are readable', async () => {
    // Act
    const started = await post('/workflows/agent-loop/executions', {
      input: { goal: 'answer over http', model: TEST_MODEL },
      budgetUsd: 0.5,
    });
    const id = started.body.executionId as string;
    const final = await waitForEnd(id);
    const steps = await get(`/executions/${id}/steps`);
    const costs = await get(`/executions/${id}/costs`);
    const events = await get(`/executions/${id}/events?after=0`);
    const later = await get(`/executions/${id}/events?after=${(events.body as { lastId: number }).lastId}`);

    // Assess
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ workflow: 'agent-loop', budgetMicros: 500_000, budgetUsd: 0.5 });
    // Named for the console (workflow, goal slug, short id); the embedded engine has no console to link.
    expect(id).toMatch(/^agent-loop-answer-over-http-[0-9a-f]{12}$/);
    expect(started.body.consoleUrl).toBeNull();
    expect(final.executionId).toBe(id);
    expect(final.consoleUrl).toBeNull();
    expect(final).toMatchObject({ status: 'succeeded', output: { answer: '42' } });
    expect((steps.body.items as unknown[]).length).toBe(4);
    expect(costs.body).toMatchObject({
      totalMicros: final.costMicros,
      byKind: { llm: { usdMicros: 810, entries: 3 } },
    });
    const entries = costs.body.entries as { usdMicros: number }[];
    expect(entries.reduce((s, e) => s + e.usdMicros, 0)).toBe(final.costMicros);
    for (const breakdown of ['byKind', 'byModel', 'byStep']) {
      const totals = Object.values(costs.body[breakdown] as Record<string, { usdMicros: number }>);
      expect(
        totals.reduce((s, t) => s + t.usdMicros, 0),
        breakdown,
      ).toBe(final.costMicros);
    }
    const types = (events.body.items as { type: string }[]).map((e) => e.type);
    expect(types[0]).toBe('execution.created');
    expect(types).toContain('execution.succeeded');
    expect(later.body.items).toEqual([]);
  });

  it('GET /executions lists newest first and pages with a cursor', async () => {
    // Prepare
    for (let i = 0; i < 3; i++) await post('/workflows/hello/executions', { input: { name: `n${i}` } });
    await local.orchestrator.drain();

    // Act
    const first = await get('/executions?workflow=hello&limit=2');
    const second = await get(`/executions?workflow=hello&limit=2&cursor=${first.body.nextCursor}`);

    // Assess
    const names = [
      ...(first.body.items as { input: { name: string } }[]),
      ...(second.body.items as { input: { name: string } }[]),
    ].map((e) => e.input.name);
    expect(names.slice(0, 3)).toEqual(['n2', 'n1', 'n0']);
    expect(first.body.nextCursor).toEqual(expect.any(String));
  });

  it('the same idempotencyKey returns the same execution (200) and starts nothing new', async () => {
    // Act
    const a = await post('/workflows/hello/executions', { input: { name: 'idem' }, idempotencyKey: 'key-1' });
    const before = await executionCount();
    const b = await post('/workflows/hello/executions', { input: { name: 'idem' }, idempotencyKey: 'key-1' });

    // Assess
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.executionId).toBe(a.body.executionId);
    expect(a.body.executionId).toMatch(/^hello-key-1-[0-9a-f]{12}$/);
    expect(await executionCount()).toBe(before);
  });

  it('the same idempotencyKey with another input is a 409 conflict', async () => {
    await post('/workflows/hello/executions', { input: { name: 'one' }, idempotencyKey: 'key-2' });
    const b = await post('/workflows/hello/executions', { input: { name: 'two' }, idempotencyKey: 'key-2' });
    expect(b.status).toBe(409);
    expect(b.body.detail).toMatch(/key-2/);
  });

  describe('bad input is refused and nothing is written', () => {
    it('unknown workflow → 404', async () => {
      const before = await executionCount();
      const res = await post('/workflows/nope/executions', { input: {} });
      expect(res.status).toBe(404);
      expect(res.type).toContain('application/problem+json');
      expect(res.body.detail).toMatch(/workflow 'nope' does not exist/);
      expect(await executionCount()).toBe(before);
    });

    it('malformed JSON → 400 naming the body', async () => {
      const before = await executionCount();
      const res = await post('/workflows/hello/executions', '{"input": {', true);
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'body', message: 'malformed JSON' }]);
      expect(await executionCount()).toBe(before);
    });

    it('schema violation → 400 naming the field', async () => {
      const before = await executionCount();
      const res = await post('/workflows/hello/executions', { input: 'not an object' });
      expect(res.status).toBe(400);
      expect((res.body.errors as { field: string }[])[0]!.field).toBe('input');
      expect(await executionCount()).toBe(before);
    });

    it.each([0, 2.5, MAX_AGENT_ITERATIONS + 1, '3'])(
      'agent-loop maxIterations %j → 400 naming input.maxIterations',
      async (maxIterations) => {
        const before = await executionCount();
        const res = await post('/workflows/agent-loop/executions', { input: { goal: 'g', maxIterations } });
        expect(res.status).toBe(400);
        expect(res.type).toContain('application/problem+json');
        expect((res.body.errors as { field: string }[]).map((e) => e.field)).toEqual(['input.maxIterations']);
        expect(await executionCount()).toBe(before);
      },
    );

    it('agent-loop without a goal → 400 naming input.goal, nothing written', async () => {
      const before = await executionCount();
      const res = await post('/workflows/agent-loop/executions', { input: { maxIterations: 2 } });
      expect(res.status).toBe(400);
      expect((res.body.errors as { field: string }[]).map((e) => e.field)).toEqual(['input.goal']);
      expect(await executionCount()).toBe(before);
    });

    it(`input nested deeper than ${MAX_INPUT_DEPTH} levels → 400 naming the limit, nothing written`, async () => {
      // Prepare: ~8 KB of brackets, the shape that hung the interpreter
      const deep = `{"input":{"name":"x","payload":${'['.repeat(4000)}${']'.repeat(4000)}}}`;
      const before = await executionCount();

      // Act
      const res = await post('/workflows/hello/executions', deep, true);

      // Assess
      expect(res.status).toBe(400);
      expect(String(res.body.detail)).toContain(String(MAX_INPUT_DEPTH));
      expect(await executionCount()).toBe(before);
    });

    it.each(['/executions/abc%00def', '/executions?status=running%00', '/executions?cursor=%00'])(
      'NUL byte in %s → 400, not 500',
      async (path) => {
        const res = await get(path);
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body)).toMatch(/NUL/);
      },
    );

    it('unknown field → 400 naming it', async () => {
      const res = await post('/workflows/hello/executions', { input: {}, budget: 1 });
      expect(res.status).toBe(400);
      expect(String(res.body.detail)).toMatch(/budget/);
    });

    it('negative budget → 400 naming budgetUsd', async () => {
      const before = await executionCount();
      const res = await post('/workflows/hello/executions', { input: {}, budgetUsd: -1 });
      expect(res.status).toBe(400);
      expect((res.body.errors as { field: string }[])[0]!.field).toBe('budgetUsd');
      expect(await executionCount()).toBe(before);
    });

    it('budget below micro-dollar precision → 400', async () => {
      const res = await post('/workflows/hello/executions', { input: {}, budgetUsd: 0.0000001 });
      expect(res.status).toBe(400);
    });

    it('input over 256 KiB → 413', async () => {
      const before = await executionCount();
      const res = await post('/workflows/hello/executions', { input: { blob: 'x'.repeat(262_144) } });
      expect(res.status).toBe(413);
      expect(await executionCount()).toBe(before);
    });

    it('request body far over the limit → 413 before it is parsed', async () => {
      // The server answers before reading the body and drops the connection, so the client must not reuse it.
      const res = await post('/workflows/hello/executions', { input: { blob: 'x'.repeat(400_000) } }, false, {
        connection: 'close',
      });
      expect(res.status).toBe(413);
    });

    it('unknown execution id → 404 on every execution route', async () => {
      for (const path of ['', '/steps', '/costs', '/events']) {
        const res = await get(`/executions/does-not-exist${path}`);
        expect(res.status, path).toBe(404);
      }
    });

    it('bad query → 400 naming the parameter', async () => {
      const res = await get('/executions?limit=0');
      expect(res.status).toBe(400);
      expect((res.body.errors as { field: string }[])[0]!.field).toBe('limit');
    });
  });

  it('GET /openapi.json documents every route, generated from the zod schemas', async () => {
    const { status, body } = await get('/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    expect(Object.keys(body.paths as object).sort()).toEqual([
      '/approvals',
      '/approvals/{id}',
      '/approvals/{id}/decision',
      '/executions',
      '/executions/{id}',
      '/executions/{id}/cancel',
      '/executions/{id}/costs',
      '/executions/{id}/events',
      '/executions/{id}/redrive',
      '/executions/{id}/steps',
      '/executions/{id}/stream',
      '/health',
      '/stream',
      '/task-tokens/failure',
      '/task-tokens/heartbeat',
      '/task-tokens/success',
      '/task-tokens/{token}/failure',
      '/task-tokens/{token}/heartbeat',
      '/task-tokens/{token}/success',
      '/workflows',
      '/workflows/{name}/executions',
    ]);
    const schemas = (body.components as { schemas: Record<string, unknown> }).schemas;
    expect(schemas).toHaveProperty('StartExecutionRequest');
    expect(schemas).toHaveProperty('Problem');
    expect(schemas).toHaveProperty('ApprovalDecision');
  });
});

describe('POST /executions/{id}/cancel', () => {
  it('cancels a run left running (e.g. by a process that died): cancelled, reservations released, steps ended; then 409', async () => {
    // Prepare: a running execution holding a reservation, with a step in flight and no process running it
    const store = local.runtime.store;
    const id = `hello-orphan-${Date.now()}`;
    await store.createExecution({ id, workflow: 'hello', input: {}, budgetMicros: 1_000_000, running: true });
    await store.beginStep({
      executionId: id,
      stateName: 'Finish',
      activity: 'execution-finish',
      enteredAt: new Date().toISOString(),
      attempt: 0,
    });
    expect(await store.reserveBudget({ key: `${id}/r`, executionId: id, amountMicros: 400_000 })).toEqual({
      ok: true,
    });

    // Act
    const first = await post(`/executions/${id}/cancel`, {});
    const second = await post(`/executions/${id}/cancel`, {});

    // Assess
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('cancelled');
    const row = await store.getExecution(id);
    expect(row?.status).toBe('cancelled');
    expect(row?.reservedMicros).toBe(0);
    expect((await store.listSteps(id)).map((s) => s.status)).toEqual(['failed']);
    expect(second.status).toBe(409);
    expect(String(second.body.detail)).toMatch(/already ended: cancelled/);
  });

  it('unknown execution → 404', async () => {
    expect((await post('/executions/no-such-execution/cancel', {})).status).toBe(404);
  });
});

describe('POST /executions/{id}/redrive', () => {
  /** A row as a run that ended `status` leaves it, with no process driving it. */
  async function ended(status: 'succeeded' | 'failed' | 'cancelled' | 'timed_out'): Promise<string> {
    const store = local.runtime.store;
    const id = `hello-redrive-${status}-${Math.random().toString(36).slice(2, 8)}`;
    await store.createExecution({ id, workflow: 'hello', input: { name: 'again' }, running: true });
    await store.finishExecution({
      id,
      status,
      ...(status === 'succeeded' ? { output: {} } : { error: { error: 'States.TaskFailed', cause: 'boom' } }),
    });
    return id;
  }

  it('unknown execution → 404 problem naming it, and nothing is written', async () => {
    // Act
    const res = await post('/executions/no-such-execution/redrive', {});

    // Assess
    expect(res.status).toBe(404);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 404 });
    expect(String(res.body.detail)).toMatch(/no-such-execution/);
    expect(await local.runtime.store.getExecution('no-such-execution')).toBeUndefined();
  });

  it.each(['succeeded', 'running'] as const)(
    'a %s run → 409 problem naming its status; the row is left as it was',
    async (status) => {
      // Prepare
      const store = local.runtime.store;
      const id =
        status === 'running'
          ? `hello-redrive-running-${Math.random().toString(36).slice(2, 8)}`
          : await ended('succeeded');
      if (status === 'running')
        await store.createExecution({ id, workflow: 'hello', input: {}, running: true });
      const before = (await store.getExecution(id))!;

      // Act
      const res = await post(`/executions/${id}/redrive`, {});

      // Assess
      expect(res.status).toBe(409);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(String(res.body.detail)).toContain(`is ${status}`);
      const after = (await store.getExecution(id))!;
      expect(after.status).toBe(status);
      expect(after.redriveCount).toBe(before.redriveCount);
    },
  );

  it.each(['failed', 'timed_out', 'cancelled'] as const)(
    'a %s run → 200 with the execution and its redrive (RedriveResponse schema), then runs to its end',
    async (status) => {
      // Prepare
      const { redriveResponseSchema } = await import('../../functions/api/schemas.ts');
      const id = await ended(status);

      // Act
      const res = await post(`/executions/${id}/redrive`, {});
      const final = await waitForEnd(id);
      const again = await post(`/executions/${id}/redrive`, {});

      // Assess
      expect(res.status).toBe(200);
      const parsed = redriveResponseSchema().strict().safeParse(res.body);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      expect(res.body).toMatchObject({
        executionId: id,
        status: 'running',
        redriveCount: 1,
        redrive: { redriveCount: 1, savedUsd: 0, savedMicros: 0 },
      });
      expect(final).toMatchObject({ status: 'succeeded', redriveCount: 1 });
      expect(again.status, 'a run the redrive finished is not redrivable').toBe(409);
    },
  );
});

describe('GET /executions/{id} and /costs: overrun', () => {
  it('shows the spend charged above its reservation (overrunMicros), 0 for a run within its holds', async () => {
    // Prepare: a model call that reserved 1,000 µ$ and was settled at the 1,600 µ$ its provider reported
    const store = local.runtime.store;
    const id = `hello-overrun-${Date.now()}`;
    const within = `hello-within-${Date.now()}`;
    for (const e of [id, within])
      await store.createExecution({
        id: e,
        workflow: 'hello',
        input: {},
        budgetMicros: 1_000_000,
        running: true,
      });
    expect(await store.reserveBudget({ key: `${id}/call`, executionId: id, amountMicros: 1_000 })).toEqual({
      ok: true,
    });
    await store.recordCost(
      {
        executionId: id,
        kind: 'llm',
        provider: 'openai',
        model: 'gpt-4o-mini',
        usdMicros: 1_600,
        idempotencyKey: `${id}/c`,
      },
      [],
      { reservationKey: `${id}/call` },
    );

    // Act
    const execution = await get(`/executions/${id}`);
    const costs = await get(`/executions/${id}/costs`);
    const other = await get(`/executions/${within}`);

    // Assess
    expect(execution.status).toBe(200);
    expect(execution.body).toMatchObject({ costMicros: 1_600, overrunMicros: 600 });
    expect(costs.body).toMatchObject({ totalMicros: 1_600, overrunMicros: 600 });
    expect(other.body.overrunMicros).toBe(0);
  });
});

describe('startExecution (service)', () => {
  it('gives an execution started without a budget the configured default, and keeps an explicit one', async () => {
    // Prepare
    const { startExecution } = await import('#shared/executions');
    const deps = { store: local.runtime.store, engine: local.engine, defaultBudgetMicros: 750_000 };

    // Act
    const implicit = await startExecution(deps, { workflow: 'hello', input: { name: 'default budget' } });
    const explicit = await startExecution(deps, {
      workflow: 'hello',
      input: { name: 'own budget' },
      budgetMicros: 10,
    });
    await local.orchestrator.drain();

    // Assess
    expect(implicit.execution.budgetMicros).toBe(750_000);
    expect(explicit.execution.budgetMicros).toBe(10);
  });

  it('removes the execution again when the engine refuses to start it', async () => {
    // Prepare: an engine that lists the workflow but fails to start it (as StartExecution can on AWS).
    const { startExecution } = await import('#shared/executions');
    const engine = {
      listWorkflows: async () => [{ name: 'hello', description: '' }],
      startExecution: async () => {
        throw new Error('ExecutionLimitExceeded');
      },
    };
    const before = await executionCount();

    // Act
    const attempt = startExecution({ store: local.runtime.store, engine }, { workflow: 'hello', input: {} });

    // Assess
    await expect(attempt).rejects.toThrow('ExecutionLimitExceeded');
    expect(await executionCount()).toBe(before);
  });
});
