import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeLlm, type LlmInvokeDeps } from '#shared/activities/llm-invoke';
import { failOpen } from '#shared/cache';
import { BudgetExceededError, LlmProviderError } from '#shared/errors';
import { EVENTS } from '#shared/events/catalogue';
import { OpenAiCompatibleProvider } from '#shared/llm/openai-compatible';
import type { LlmProvider } from '#shared/llm/types';
import { holdStep } from '#shared/middleware/budget';
import { costOf, PriceTable } from '#shared/pricing/pricing';
import type { StepInfo } from '#shared/step-context';
import { openTestStore } from '../helpers/database.ts';
import { OpenAiProtocolServer } from '../helpers/openai-server.ts';
import { serveDuringTests } from '../helpers/protocol-server.ts';

const server = new OpenAiProtocolServer();
serveDuringTests(server);
const prices = PriceTable.load();
const gpt4oMini = prices.priceOf('openai', 'gpt-4o-mini');
let db: Awaited<ReturnType<typeof openTestStore>>;
let n = 0;

beforeAll(async () => {
  db = await openTestStore();
});
afterAll(async () => {
  await db.close();
});

/** The real OpenAI-compatible client against the local test server, priced as gpt-4o-mini. */
function served(timeoutMs: number): LlmProvider {
  const client = new OpenAiCompatibleProvider({ baseUrl: server.url, apiKey: 'sk-test', timeoutMs });
  return {
    id: client.id,
    pricingKey: () => ({ provider: 'openai', model: 'gpt-4o-mini' }),
    complete: (request, signal) => client.complete(request, signal),
  };
}

function deps(provider: LlmProvider): LlmInvokeDeps {
  return {
    store: db.store,
    prices,
    providers: new Map([[provider.id, provider]]),
    cache: failOpen(
      { kind: 'store', get: async () => undefined, set: async () => {}, close: async () => {} },
      { timeoutMs: 1000, onError: () => {} },
    ),
    defaults: { provider: provider.id, model: 'gpt-4o-mini', maxTokens: 100, cacheTtlSeconds: 60 },
    sleep: async () => {},
  };
}

async function step(budgetMicros: number | null, stateName = 'Ask'): Promise<StepInfo> {
  const executionId = `kinds-${n++}`;
  await db.store.createExecution({ id: executionId, workflow: 'w', input: {}, budgetMicros });
  const row = await db.store.beginStep({
    executionId,
    stateName,
    activity: 'llm-invoke',
    enteredAt: new Date().toISOString(),
    attempt: 0,
  });
  return {
    stepId: row.id,
    executionId,
    workflow: 'w',
    stateName,
    enteredTime: row.enteredAt,
    item: '',
    attempt: 0,
    resultKey: `${executionId}/${stateName}/${row.enteredAt}/llm-invoke`,
  };
}

const ask = { context: {}, prompt: 'hi', maxTokens: 100, messages: [], parseDirective: false, cache: false };

describe('Budget: usage reported above the worst case (over-reporting provider)', () => {
  it('charges what was reported, raises budget.overrun naming provider and step, and refuses the next spend', async () => {
    // Prepare: the server reports 5,000 output tokens for a call allowed 100 (as some proxies do).
    const s = await step(1_000_000);
    server.queue.push({ kind: 'completion', content: 'long', usage: { prompt: 10, completion: 5_000 } });

    // Act
    const out = await invokeLlm(deps(served(5_000)), s, ask);

    // Assess: the ledger tells the truth, and says why it is above the hold.
    const reported = costOf(gpt4oMini, { inputTokens: 10, outputTokens: 5_000, cachedInputTokens: 0 });
    expect(out.costMicros).toBe(reported);
    const row = (await db.store.getExecution(s.executionId))!;
    expect(row.costMicros).toBe(reported);
    expect(row.reservedMicros).toBe(0);
    expect(row.overrunMicros).toBeGreaterThan(0);
    const overruns = (await db.store.listEvents(s.executionId, 0, 100)).filter(
      (e) => e.type === EVENTS.budgetOverrun,
    );
    expect(overruns).toHaveLength(1);
    expect(overruns[0]!.payload).toMatchObject({
      provider: 'openai-compatible',
      model: 'gpt-4o-mini',
      stateName: 'Ask',
      stepId: s.stepId,
      chargedMicros: reported,
      overrunMicros: row.overrunMicros,
    });
    // The run stops before its next spend, though its budget still has room.
    expect(row.costMicros).toBeLessThan(row.budgetMicros! / 2);
    const next = { ...s, stateName: 'Act', resultKey: `${s.resultKey}/next` };
    await expect(invokeLlm(deps(served(5_000)), next, ask)).rejects.toThrow(BudgetExceededError);
    await expect(
      holdStep(
        db.store,
        'llm-invoke',
        next,
        { memoryLimitInMB: '128', getRemainingTimeInMillis: () => 1000 },
        1,
      ),
    ).rejects.toThrow(/overran its reservation/);
  });
});

describe('Budget: a call abandoned at the client timeout', () => {
  it('is recorded as unconfirmed spend at its worst case, and the hold is settled', async () => {
    // Prepare: the server answers only after the client's 200 ms timeout.
    const s = await step(1_000_000);
    server.queue.push({ kind: 'hang', ms: 1_000 });

    // Act
    const outcome = invokeLlm(deps(served(200)), s, ask);

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: 'LlmProviderError', abandoned: true });
    await expect(outcome).rejects.toBeInstanceOf(LlmProviderError);
    const [entry, ...rest] = await db.store.listCosts(s.executionId);
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({
      kind: 'llm',
      confirmed: false,
      provider: 'openai-compatible',
      stateName: 'Ask',
    });
    const held = (await db.store.listEvents(s.executionId, 0, 100)).find(
      (e) => e.type === EVENTS.costRecorded,
    );
    expect(held?.payload).toMatchObject({ confirmed: false, reason: expect.stringMatching(/timed out/) });
    const row = (await db.store.getExecution(s.executionId))!;
    expect(row.reservedMicros).toBe(0);
    expect(row.costMicros).toBe(entry!.usdMicros);
    expect(entry!.usdMicros).toBeGreaterThanOrEqual(
      costOf(gpt4oMini, { inputTokens: 0, outputTokens: 100, cachedInputTokens: 0 }),
    );
  });
});

describe('Store: recordUnconfirmed', () => {
  it('turns a held reservation into one unconfirmed ledger row at its amount, once per key', async () => {
    // Prepare
    const s = await step(10_000);
    const key = `${s.resultKey}/0`;
    await db.store.reserveBudget({
      key,
      executionId: s.executionId,
      amountMicros: 700,
      stepId: s.stepId,
      stateName: 'Ask',
      provider: 'p',
      model: 'm',
    });

    // Act
    const first = await db.store.recordUnconfirmed(key, 'process died holding it');
    const again = await db.store.recordUnconfirmed(key, 'process died holding it');

    // Assess
    expect(first).toEqual({ recorded: true });
    expect(again).toEqual({ recorded: false });
    const costs = await db.store.listCosts(s.executionId);
    expect(costs.map((c) => [c.kind, c.usdMicros, c.confirmed, c.provider, c.model, c.stepId])).toEqual([
      ['llm', 700, false, 'p', 'm', s.stepId],
    ]);
    const row = (await db.store.getExecution(s.executionId))!;
    expect([row.costMicros, row.reservedMicros]).toEqual([700, 0]);
    expect((await db.store.listSteps(s.executionId))[0]!.costMicros).toBe(700);
  });

  it('records nothing for a released, settled or unknown key', async () => {
    // Prepare
    const s = await step(10_000);
    await db.store.reserveBudget({ key: `${s.resultKey}/r`, executionId: s.executionId, amountMicros: 100 });
    await db.store.releaseBudget(`${s.resultKey}/r`);

    // Act
    const released = await db.store.recordUnconfirmed(`${s.resultKey}/r`, 'late');
    const unknown = await db.store.recordUnconfirmed(`${s.resultKey}/nope`, 'late');

    // Assess
    expect([released.recorded, unknown.recorded]).toEqual([false, false]);
    expect(await db.store.listCosts(s.executionId)).toEqual([]);
  });
});
