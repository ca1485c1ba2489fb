import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import { worstCaseInputTokens } from '#shared/llm/tokens';
import { lambdaComputeMicros } from '#shared/pricing/aws';
import { costOf, PriceTable } from '#shared/pricing/pricing';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { createTestDatabase } from '../helpers/database.ts';

const PROMPT = 'What is six times seven?';
const MAX_TOKENS = 1000;
let local: LocalRuntime;
let drop: () => Promise<void>;
let perCall: number;

beforeAll(async () => {
  // Prepare: a scripted model whose every answer uses exactly the worst case the reservation assumes,
  // so the number of calls that fit a budget is known exactly: floor(budget / perCall).
  const inputTokens = worstCaseInputTokens(undefined, [{ role: 'user', content: PROMPT }]);
  perCall = costOf(PriceTable.load().priceOf('openai', 'gpt-4o-mini'), {
    inputTokens,
    outputTokens: MAX_TOKENS,
    cachedInputTokens: 0,
  });
  const dir = mkdtempSync(join(tmpdir(), 'wflo-fanout-'));
  const script = join(dir, 'worst-case.json');
  writeFileSync(
    script,
    JSON.stringify({
      model: 'worst-case',
      priceAs: 'openai/gpt-4o-mini',
      rules: [{ reply: { text: '42', usage: { inputTokens, outputTokens: MAX_TOKENS } } }],
    }),
  );
  const db = await createTestDatabase();
  drop = db.drop;
  local = await createLocalRuntime(
    loadConfig({
      WFLO_DATA_DIR: 'memory://',
      LLM_SCRIPT_FILE: script,
      ...(db.url ? { DATABASE_URL: db.url } : {}),
    }),
    { retryIntervalScale: 0, statemachinesDir: 'tests/fixtures/statemachines' },
  );
});
afterAll(async () => {
  await local.close();
  await drop();
});

describe('State machine: 50 parallel model calls against one budget (Map)', () => {
  it("bounds the run's total (model calls, compute, transitions), not only its model calls, by the budget", async () => {
    // Prepare: the case, $0.00456 for 50 parallel calls. Before this change 7 calls fit, but
    // compute and transitions charged after the fact took the run's total to $0.01013 (2.2x).
    const budget = 4560;

    // Act
    const { execution } = await startExecution(
      { store: local.runtime.store, engine: local.engine },
      {
        workflow: 'fan-out',
        input: {
          items: Array.from({ length: 50 }, () => PROMPT),
          model: { provider: 'scripted', name: 'worst-case' },
          maxTokens: MAX_TOKENS,
        },
        budgetMicros: budget,
      },
    );
    await local.orchestrator.drain();

    // Assess: every kind is in the ledger, the ledger is the total, and the total is within the budget.
    const row = (await local.runtime.store.getExecution(execution.id))!;
    const ledger = await local.runtime.store.listCosts(execution.id);
    const total = ledger.reduce((s, c) => s + c.usdMicros, 0);
    const kinds = new Set(ledger.map((c) => c.kind));
    expect(row.status).toBe('succeeded');
    expect(kinds.has('lambda') && kinds.has('transition')).toBe(true);
    expect(total).toBe(row.costMicros);
    expect(total).toBeLessThanOrEqual(budget);
    expect(row.reservedMicros).toBe(0);
    // Each model call that ran was paid in full; the others were refused before they started.
    const llm = ledger.filter((c) => c.kind === 'llm');
    expect(llm.every((c) => c.usdMicros === perCall)).toBe(true);
    const steps = await local.runtime.store.listSteps(execution.id);
    const refused = steps.filter(
      (s) => s.status === 'failed' && (s.error as { error: string }).error === 'BudgetExceededError',
    );
    expect(refused.length + llm.length).toBe(50);
    // A refused step ran nothing: its only compute is the invocation that refused it, for its duration.
    for (const s of refused) {
      const compute = ledger.filter((c) => c.kind === 'lambda' && c.stepId === s.id);
      expect(compute.map((c) => c.usdMicros)).toEqual([lambdaComputeMicros(512, s.durationMs!)]);
    }
  });
});
