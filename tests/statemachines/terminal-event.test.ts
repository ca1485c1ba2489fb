/**
 * Issue 15: the terminal event of a run carries its final totals, and nothing is charged after it, so a
 * consumer that stops at the terminal event (an SSE client, a Kafka consumer) has the whole truth. Real runs on
 * the embedded engine: one that ends through its execution-finish step (hello, agent-loop), and one that ends
 * without any (the end recorded by the engine's own end projection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { runToEnd, startLocal, stopLocal, TEST_MODEL, TEST_SCRIPT } from '../helpers/local.ts';

const TERMINAL = /^execution\.(succeeded|failed|cancelled|timed_out|budget_exceeded)$/;

type Run = Awaited<ReturnType<typeof runToEnd>>;

/** Asserts the terminal event is the run's last and carries the run's final total, which is its whole ledger. */
function expectTerminalEventHasTheWholeTruth({ execution, ledger, events }: Run) {
  const terminal = events.filter((e) => TERMINAL.test(e.type));
  expect(terminal.map((e) => e.type)).toEqual([`execution.${execution.status}`]);
  const end = terminal[0]!;
  const after = events.filter((e) => e.id > end.id).map((e) => e.type);
  expect(after).toEqual([]);
  const total = ledger.reduce((s, c) => s + c.usdMicros, 0);
  expect(total).toBeGreaterThan(0);
  expect(execution.costMicros).toBe(total);
  expect(end.payload).toMatchObject({ status: execution.status, costMicros: total });
}

describe('GIVEN a run that ends through its execution-finish step', () => {
  let local: LocalRuntime;
  beforeAll(async () => {
    local = await startLocal();
  });
  afterAll(async () => {
    await stopLocal(local);
  });

  it('WHEN hello succeeds THEN its terminal event is last and carries the final total', async () => {
    const run = await runToEnd(local, 'hello', { name: 'terminal' });

    expect(run.execution.status).toBe('succeeded');
    expectTerminalEventHasTheWholeTruth(run);
  });

  it('WHEN agent-loop succeeds after three model calls THEN its terminal event is last and carries the final total', async () => {
    const run = await runToEnd(local, 'agent-loop', { model: TEST_MODEL, goal: 'terminal totals' });

    expect(run.execution.status).toBe('succeeded');
    expect(run.ledger.filter((c) => c.kind === 'llm')).toHaveLength(3);
    expectTerminalEventHasTheWholeTruth(run);
  });
});

describe('GIVEN a run without an execution-finish step (the engine records its end)', () => {
  let local: LocalRuntime;
  beforeAll(async () => {
    local = await createLocalRuntime(
      loadConfig({ WFLO_DATA_DIR: 'memory://', LLM_SCRIPT_FILE: TEST_SCRIPT }),
      { statemachinesDir: 'tests/fixtures/approval-bench', approvalSweepMs: 0 },
    );
  });
  afterAll(async () => {
    await stopLocal(local);
  });

  it('WHEN it succeeds THEN its terminal event is last and carries the transitions it was charged', async () => {
    const { execution } = await startExecution(
      { store: local.runtime.store, engine: local.engine },
      { workflow: 'approval-gate-pass', input: { approvers: { roles: ['reviewer'] } }, budgetMicros: null },
    );
    await local.orchestrator.drain();
    const store = local.runtime.store;
    const run: Run = {
      execution: (await store.getExecution(execution.id))!,
      steps: await store.listSteps(execution.id),
      ledger: await store.listCosts(execution.id),
      events: await store.listEvents(execution.id, 0, 1000),
    };

    expect(run.execution.status).toBe('succeeded');
    expect(run.ledger.map((c) => c.kind)).toEqual(['transition']);
    expectTerminalEventHasTheWholeTruth(run);
  });
});
