import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRuntime, createRuntime, type Runtime, setRuntime } from '#local/engine/wiring';
import { invokeLlm, type LlmInvokeDeps } from '#shared/activities/llm-invoke';
import { failOpen } from '#shared/cache';
import { loadConfig } from '#shared/config';
import { LlmProviderError, StoreUnavailableError, UnknownModelPriceError } from '#shared/errors';
import type { LlmProvider, LlmRequest } from '#shared/llm/types';
import { transitionsMicros } from '#shared/pricing/aws';
import { PriceTable } from '#shared/pricing/pricing';
import type { StepInfo } from '#shared/step-context';
import { handler as llmInvoke } from '../../functions/activities/llm-invoke.ts';

// The handler's event type is its validated input; these tests send raw events as Step Functions would.
const handler = llmInvoke as unknown as (event: unknown, context: Context) => Promise<unknown>;

import { openTestStore } from '../helpers/database.ts';

let runtime: Runtime;
let n = 0;

beforeAll(async () => {
  runtime = await createRuntime(
    loadConfig({ WFLO_DATA_DIR: 'memory://', LLM_SCRIPT_FILE: 'tests/fixtures/scripts/test-agent.json' }),
  );
  setRuntime(runtime);
});
afterAll(async () => {
  await closeRuntime();
});

const lambdaContext = {
  memoryLimitInMB: '512',
  awsRequestId: 'r',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

function sfnContext(executionId: string, attempt: number, enteredTime: string) {
  return {
    Execution: {
      Id: `arn:aws:states:us-east-1:000000000000:execution:agent-loop:${executionId}`,
      Name: executionId,
    },
    State: { Name: 'Plan', EnteredTime: enteredTime, RetryCount: attempt },
    StateMachine: { Name: 'agent-loop' },
  };
}

describe('Lambda: llm-invoke (handler over a real store)', () => {
  it('a retried invocation of the same state entry returns the first result and charges once', async () => {
    // Prepare
    const id = `retry-${n++}`;
    await runtime.store.createExecution({ id, workflow: 'agent-loop', input: {} });
    const entered = new Date().toISOString();
    const event = (attempt: number) => ({
      context: sfnContext(id, attempt, entered),
      model: { provider: 'scripted', name: 'test-agent' },
      prompt: 'hello there',
    });

    // Act: attempt 0 succeeds; Step Functions retries anyway (e.g. Lambda.ServiceException after the handler returned).
    const first = await handler(event(0), lambdaContext);
    const second = await handler(event(1), lambdaContext);

    // Assess
    expect(second).toEqual(first);
    const llm = (await runtime.store.listCosts(id)).filter((c) => c.kind === 'llm');
    expect(llm).toHaveLength(1);
    expect((await runtime.store.listEvents(id, 0, 100)).filter((e) => e.type === 'llm.called')).toHaveLength(
      1,
    );
  });

  it('records an execution started outside the API (e.g. from the console) as running on its first step', async () => {
    // Prepare: no row exists for this execution.
    const id = `console-${n++}`;

    // Act
    await handler(
      {
        context: sfnContext(id, 0, new Date().toISOString()),
        model: { provider: 'scripted', name: 'test-agent' },
        prompt: 'hi',
      },
      lambdaContext,
    );

    // Assess
    const row = await runtime.store.getExecution(id);
    expect(row).toMatchObject({ workflow: 'agent-loop', status: 'running' });
    const types = (await runtime.store.listEvents(id, 0, 100)).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['execution.created', 'execution.started', 'step.started']);
  });

  it('with less time left than the deadline margin, fails retryably without calling the model or holding budget', async () => {
    // Prepare: a budget, and an invocation with 1 s left (the margin is 2 s)
    const id = `deadline-${n++}`;
    await runtime.store.createExecution({ id, workflow: 'agent-loop', input: {}, budgetMicros: 1_000_000 });
    const late = { ...lambdaContext, getRemainingTimeInMillis: () => 1_000 } as Context;

    // Act
    const outcome = handler(
      {
        context: sfnContext(id, 0, new Date().toISOString()),
        model: { provider: 'scripted', name: 'test-agent' },
        prompt: `never asked ${id}`,
        temperature: 0.7,
      },
      late,
    );

    // Assess
    await expect(outcome).rejects.toMatchObject({ name: 'LlmProviderError', message: /no time left/ });
    expect((await runtime.store.listCosts(id)).filter((c) => c.kind === 'llm')).toHaveLength(0);
    // Only the state entry's transition hold stays (settled by the end-of-run transition charge).
    expect((await runtime.store.getExecution(id))?.reservedMicros).toBe(transitionsMicros(1));
    expect((await runtime.store.listSteps(id)).map((st) => st.status)).toEqual(['failed']);
  });

  it('refuses an event without the Step Functions context, naming the field', async () => {
    await expect(handler({ prompt: 'x' }, lambdaContext)).rejects.toThrow(
      /Step Functions context .*context: /,
    );
  });
});

describe('Function: invokeLlm', () => {
  let store: Awaited<ReturnType<typeof openTestStore>>;
  beforeAll(async () => {
    store = await openTestStore();
  });
  afterAll(async () => {
    await store.close();
  });

  /** A provider that records its calls and answers with fixed usage. */
  function countingProvider(): LlmProvider & { calls: LlmRequest[] } {
    const calls: LlmRequest[] = [];
    return {
      id: 'openai-compatible',
      calls,
      pricingKey: (model) => ({ provider: 'openai', model }),
      complete: async (request) => {
        calls.push(request);
        return {
          text: 'ok',
          stopReason: 'end_turn',
          model: request.model,
          usage: { inputTokens: 100, outputTokens: 10, cachedInputTokens: 0 },
        };
      },
    };
  }

  async function step(): Promise<StepInfo> {
    const executionId = `inv-${n++}`;
    await store.store.createExecution({ id: executionId, workflow: 'w', input: {} });
    const row = await store.store.beginStep({
      executionId,
      stateName: 'Ask',
      activity: 'llm-invoke',
      enteredAt: new Date().toISOString(),
      attempt: 0,
    });
    return {
      stepId: row.id,
      executionId,
      workflow: 'w',
      stateName: 'Ask',
      enteredTime: row.enteredAt,
      item: '',
      attempt: 0,
      resultKey: `${executionId}/Ask/${row.enteredAt}/llm-invoke`,
    };
  }

  const deps = (provider: LlmProvider, cache: LlmInvokeDeps['cache']): LlmInvokeDeps => ({
    store: store.store,
    prices: PriceTable.load(),
    providers: new Map([[provider.id, provider]]),
    cache,
    defaults: { provider: provider.id, model: 'gpt-4o-mini', maxTokens: 64, cacheTtlSeconds: 60 },
  });

  /** A cache that never has the answer. */
  const noCache = () =>
    failOpen(
      { kind: 'store', get: async () => undefined, set: async () => {}, close: async () => {} },
      { timeoutMs: 50, onError: () => {} },
    );

  /** A plain request: no cache unless asked, no directive parsing. */
  const ask = (prompt: string, extra: Partial<Parameters<typeof invokeLlm>[2]> = {}) => ({
    context: {},
    messages: [],
    prompt,
    parseDirective: false,
    ...extra,
  });

  it('goes on without the cache when the cache fails (fail-open), reporting the failure', async () => {
    // Prepare: a cache whose every call fails, and one that never answers.
    const errors: string[] = [];
    const broken = failOpen(
      {
        kind: 'redis',
        get: async () => Promise.reject(new Error('ECONNREFUSED')),
        set: async () => Promise.reject(new Error('ECONNREFUSED')),
        close: async () => {},
      },
      { timeoutMs: 50, onError: (op) => errors.push(op) },
    );
    const hanging = failOpen(
      {
        kind: 'redis',
        get: () => new Promise(() => {}),
        set: () => new Promise(() => {}),
        close: async () => {},
      },
      { timeoutMs: 50, onError: (op) => errors.push(op) },
    );
    const provider = countingProvider();

    // Act
    const a = await invokeLlm(deps(provider, broken), await step(), ask('hi', { temperature: 0 }));
    const b = await invokeLlm(deps(provider, hanging), await step(), ask('hi', { temperature: 0 }));

    // Assess
    expect([a.text, b.text]).toEqual(['ok', 'ok']);
    expect(provider.calls).toHaveLength(2);
    expect(errors).toEqual(['get', 'set', 'get', 'set']);
  });

  it('caches only deterministic requests unless the step asks', async () => {
    // Prepare
    const memory = new Map<string, string>();
    const cache = {
      kind: 'store' as const,
      get: async (k: string) => memory.get(k),
      set: async (k: string, v: string) => void memory.set(k, v),
      close: async () => {},
    };
    const provider = countingProvider();
    const d = deps(provider, cache);

    // Act
    await invokeLlm(d, await step(), ask('warm', { temperature: 0.7 }));
    await invokeLlm(d, await step(), ask('warm', { temperature: 0.7 }));
    await invokeLlm(d, await step(), ask('warm', { temperature: 0.7, cache: true }));
    const hit = await invokeLlm(d, await step(), ask('warm', { temperature: 0.7, cache: true }));

    // Assess
    expect(provider.calls).toHaveLength(3);
    expect(hit).toMatchObject({ cached: true, costMicros: 0, savedMicros: 21 }); // 100 × 0.15 + 10 × 0.6
  });

  it('aborts a call still running at the deadline and releases its reservation', async () => {
    // Prepare: a provider that answers only when aborted, as fetch does
    const calls: (AbortSignal | undefined)[] = [];
    const slow: LlmProvider = {
      id: 'openai-compatible',
      pricingKey: (model) => ({ provider: 'openai', model }),
      complete: (_request, signal) =>
        new Promise((_resolve, reject) => {
          calls.push(signal);
          signal?.addEventListener('abort', () => reject(new LlmProviderError('request aborted')));
        }),
    };
    const s = await step();

    // Act
    const outcome = invokeLlm(deps(slow, noCache()), s, ask('slow'), { signal: AbortSignal.timeout(50) });

    // Assess
    await expect(outcome).rejects.toThrow(LlmProviderError);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.aborted).toBe(true);
    expect((await store.store.getExecution(s.executionId))?.reservedMicros).toBe(0);
    expect(await store.store.listCosts(s.executionId)).toHaveLength(0);
  });

  it("writes a paid call's settlement through a store outage: one call, one ledger row, waits injected", async () => {
    // Prepare: the store refuses the settlement twice (connection lost), then takes it
    const provider = countingProvider();
    const info = await step();
    let refusals = 2;
    const flaky = new Proxy(store.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'recordCost' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (refusals-- > 0) return Promise.reject(new StoreUnavailableError('store unavailable', '57P01'));
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      },
    });
    const waits: number[] = [];

    // Act
    const result = await invokeLlm(
      { ...deps(provider, noCache()), store: flaky, sleep: async (ms) => void waits.push(ms) },
      info,
      ask('settle me'),
    );

    // Assess: the model was paid once and the ledger has exactly that call, its reservation settled
    expect(provider.calls).toHaveLength(1);
    expect(waits).toEqual([100, 200]);
    const llm = (await store.store.listCosts(info.executionId)).filter((c) => c.kind === 'llm');
    expect(llm.map((c) => c.usdMicros)).toEqual([result.costMicros]);
    expect((await store.store.getExecution(info.executionId))?.reservedMicros).toBe(0);
  });

  it('refuses an unpriced model before calling it or reserving anything', async () => {
    const provider = countingProvider();
    const s = await step();
    await expect(
      invokeLlm(deps(provider, noCache()), s, ask('hi', { model: { name: 'gpt-unknown' } })),
    ).rejects.toThrow(UnknownModelPriceError);
    expect(provider.calls).toHaveLength(0);
    expect((await store.store.getExecution(s.executionId))?.reservedMicros).toBe(0);
  });
});

describe('Function: createRuntime', () => {
  it('fails at start when the default model has no price', async () => {
    await expect(
      createRuntime(
        loadConfig({
          WFLO_DATA_DIR: 'memory://',
          LLM_PROVIDER: 'openai-compatible',
          LLM_MODEL: 'gpt-unknown',
        }),
      ),
    ).rejects.toThrow(UnknownModelPriceError);
  });
});
