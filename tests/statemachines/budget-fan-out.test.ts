import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import { worstCaseInputTokens } from '#shared/llm/tokens';
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
  it('never settles more than the budget, and lets through exactly as many calls as fit', async () => {
    // Prepare: room for 7.5 calls.
    const budget = Math.floor(perCall * 7.5);

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

    // Assess
    const row = (await local.runtime.store.getExecution(execution.id))!;
    const ledger = await local.runtime.store.listCosts(execution.id);
    const llm = ledger.filter((c) => c.kind === 'llm');
    const answered = (row.output as { answered: boolean }[]).filter((r) => r.answered);
    expect(row.status).toBe('succeeded');
    expect(llm).toHaveLength(7);
    expect(answered).toHaveLength(7);
    expect(llm.reduce((s, c) => s + c.usdMicros, 0)).toBe(7 * perCall);
    expect(llm.reduce((s, c) => s + c.usdMicros, 0)).toBeLessThanOrEqual(budget);
    expect(row.reservedMicros).toBe(0);
    const steps = await local.runtime.store.listSteps(execution.id);
    expect(
      steps.filter(
        (s) => s.status === 'failed' && (s.error as { error: string }).error === 'BudgetExceededError',
      ),
    ).toHaveLength(43);
  });
});
