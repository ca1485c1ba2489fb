import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecution } from '#shared/executions';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { runToEnd, startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

let local: LocalRuntime;

beforeAll(async () => {
  local = await startLocal();
});
afterAll(async () => {
  await stopLocal(local);
});

let goals = 0;
/** A goal no other test uses, so the response cache (temperature 0) never serves one test from another. */
const fresh = (goal: string) => `${goal} #${goals++}`;

/** Starts the agent loop through the same service the API uses and waits for the end. */
async function runAgent(input: Record<string, unknown>, budgetMicros: number | null = null) {
  const run = await runToEnd(local, 'agent-loop', { model: TEST_MODEL, ...input }, budgetMicros);
  /** The model calls of the ledger (kind llm). */
  return { ...run, costs: run.ledger.filter((c) => c.kind === 'llm') };
}

const sum = (rows: { usdMicros: number }[]) => rows.reduce((s, r) => s + r.usdMicros, 0);

describe('State machine: agent-loop.asl.json', () => {
  it('HappyPath: plans, acts until FINAL, finishes with the answer and a ledger row per model call', async () => {
    // Act
    const goal = fresh('answer the question');
    const { execution, steps, costs, ledger, events } = await runAgent({ goal });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toEqual({
      goal,
      answer: '42',
      lastReply: 'done\nFINAL: 42',
      iterations: 2,
      stoppedBy: 'final',
    });
    expect(steps.map((s) => [s.stateName, s.attempt, s.status])).toEqual([
      ['Plan', 0, 'succeeded'],
      ['Act', 0, 'succeeded'],
      ['Act', 0, 'succeeded'],
      ['Finish', 0, 'succeeded'],
    ]);
    // 1000 in × $0.15/M + 200 out × $0.60/M = 150 + 120 µ$ per call, three calls.
    expect(costs.map((c) => c.usdMicros)).toEqual([270, 270, 270]);
    // Each step attempt's compute (kind lambda) and the 13 states entered × 25 µ$ (kind transition) too:
    // CheckMaxIterations, DefaultMaxIterations, CheckModel, Initialize, Plan, (Act, CountIteration,
    // ShouldContinue) × 2, MarkAnswered, Finish.
    expect(ledger.filter((c) => c.kind === 'lambda')).toHaveLength(4);
    expect(ledger.filter((c) => c.kind === 'transition').map((c) => c.usdMicros)).toEqual([325]);
    expect(execution.costMicros).toBe(sum(ledger));
    expect(steps[0]!.costMicros).toBe(
      270 + ledger.find((c) => c.kind === 'lambda' && c.stepId === steps[0]!.id)!.usdMicros,
    );
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('execution.created');
    expect(types).toContain('execution.started');
    expect(types.filter((t) => t === 'llm.called')).toHaveLength(3);
    expect(types.filter((t) => t === 'step.succeeded')).toHaveLength(4);
    expect(types).toContain('execution.succeeded');
  });

  it('ActEntries: each loop turn is a new state entry with its own EnteredTime', async () => {
    // Act
    const { steps } = await runAgent({ goal: fresh('answer the question') });

    // Assess
    const acts = steps.filter((s) => s.stateName === 'Act');
    expect(acts).toHaveLength(2);
    expect(acts[0]!.enteredAt).not.toBe(acts[1]!.enteredAt);
  });

  it('RetryOnProviderError: a transient 503 is retried as attempt 1 of the same entry, charged once', async () => {
    // Act
    const { execution, steps, costs, events } = await runAgent({ goal: fresh('transient failure first') });

    // Assess
    expect(execution.status).toBe('succeeded');
    const plan = steps.filter((s) => s.stateName === 'Plan');
    expect(plan.map((s) => [s.attempt, s.status])).toEqual([
      [0, 'failed'],
      [1, 'succeeded'],
    ]);
    expect(plan[0]!.enteredAt).toBe(plan[1]!.enteredAt);
    expect(plan[0]!.error).toMatchObject({ error: 'LlmProviderError' });
    expect(costs.filter((c) => c.stateName === 'Plan')).toHaveLength(1);
    expect(events.map((e) => e.type)).toContain('step.retrying');
  });

  it('RetryExhausted: a provider that stays down fails the run after 1 + 3 attempts through RecordFailure', async () => {
    // Act
    const { execution, steps } = await runAgent({ goal: fresh('always-down') });

    // Assess
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'LlmProviderError' });
    expect(steps.filter((s) => s.stateName === 'Plan').map((s) => s.attempt)).toEqual([0, 1, 2, 3]);
    expect(steps.at(-1)).toMatchObject({ stateName: 'RecordFailure', status: 'succeeded' });
  });

  it('NonRetryableCatch: a 400 from the provider is not retried; Catch records failed with the error name', async () => {
    // Act
    const { execution, steps, costs } = await runAgent({ goal: fresh('invalid request') });

    // Assess
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'LlmRequestInvalidError' });
    expect((execution.error as { cause: string }).cause).toContain('model does not support this request');
    expect(steps.filter((s) => s.stateName === 'Plan')).toHaveLength(1);
    expect(costs).toHaveLength(0);
  });

  it('MaxIterationsStop: a model that always answers NEXT stops at maxIterations', async () => {
    // Act
    const { execution, costs } = await runAgent({ goal: fresh('endless work'), maxIterations: 3 });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ iterations: 3, stoppedBy: 'max_iterations', answer: null });
    expect(costs).toHaveLength(4); // plan + 3 turns
  });

  it('DefaultMaxIterations: without maxIterations the loop stops after 5 turns', async () => {
    // Act
    const { execution } = await runAgent({ goal: fresh('endless work') });

    // Assess
    expect(execution.output).toMatchObject({ iterations: 5, stoppedBy: 'max_iterations' });
  });

  it('BudgetExceededCatch: a call whose worst case no longer fits is refused; the run ends budget_exceeded within budget', async () => {
    // Act: before each step runs, its worst case is held: its state transitions (Plan: 6 with the states
    // before it, 150 µ$; Act: 4, 100 µ$), its compute (512 MB × its 300 s timeout, 2,000 µ$, settled at
    // a few µ$) and its model call (~650 µ$: input bytes + 1,024 output tokens, settled at 270 µ$). In
    // 3,300 µ$ the plan and one turn fit; the second turn's holds fit up to its model call, which does not.
    const budget = 3300;
    const { execution, costs, ledger, events } = await runAgent(
      { goal: fresh('answer the question') },
      budget,
    );

    // Assess
    expect(execution.status).toBe('budget_exceeded');
    expect(execution.error).toMatchObject({ error: 'BudgetExceededError' });
    expect((execution.error as { cause: string }).cause).toMatch(/may cost up to \d+ µ\$/);
    expect(costs).toHaveLength(2);
    // The whole ledger (model calls, compute, transitions) stays within the budget, every hold settled.
    expect(sum(ledger)).toBe(execution.costMicros);
    expect(execution.costMicros).toBeLessThanOrEqual(budget);
    expect(execution.reservedMicros).toBe(0);
    const warned = events
      .filter((e) => e.type === 'budget.warning')
      .map((e) => (e.payload as { thresholdPercent: number }).thresholdPercent);
    expect(warned.every((p) => execution.costMicros * 100 >= p * budget)).toBe(true);
  });

  it('CacheHit: the same deterministic run again is served from the response cache at $0, with its saving', async () => {
    // Prepare
    const goal = fresh('cache me');
    const first = await runAgent({ goal });

    // Act
    const second = await runAgent({ goal });

    // Assess
    expect(second.execution.status).toBe('succeeded');
    expect(second.execution.output).toEqual(first.execution.output);
    expect(second.costs.map((c) => [c.usdMicros, c.savedMicros])).toEqual([
      [0, 270],
      [0, 270],
      [0, 270],
    ]);
    expect(second.execution.savedMicros).toBe(810);
    expect(second.events.filter((e) => e.type === 'cache.hit')).toHaveLength(3);
    expect(second.events.filter((e) => e.type === 'llm.called')).toHaveLength(0);
  });

  it('Concurrency: 30 executions run at once without mixing their steps', async () => {
    // Act
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        startExecution(
          { store: local.runtime.store, engine: local.engine },
          { workflow: 'agent-loop', input: { model: TEST_MODEL, goal: fresh(`question ${i}`) } },
        ),
      ),
    );
    await local.orchestrator.drain();

    // Assess
    for (const { execution } of results) {
      const row = await local.runtime.store.getExecution(execution.id);
      const ledger = await local.runtime.store.listCosts(execution.id);
      expect(row?.status).toBe('succeeded');
      expect(sum(ledger.filter((c) => c.kind === 'llm'))).toBe(810);
      expect(row?.costMicros).toBe(sum(ledger));
      expect(await local.runtime.store.listSteps(execution.id)).toHaveLength(4);
    }
  });
});
