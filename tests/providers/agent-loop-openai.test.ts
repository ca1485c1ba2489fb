import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecution } from '#shared/executions';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';
import { OpenAiProtocolServer } from '../helpers/openai-server.ts';

const server = new OpenAiProtocolServer();
let local: LocalRuntime;

// Starting the local runtime migrates a fresh PGlite database: the project's hook timeout allows for load.
beforeAll(async () => {
  await server.start();
  local = await startLocal({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: 'sk-test' });
});
afterAll(async () => {
  await stopLocal(local);
  await server.stop();
});

describe('State machine: agent-loop.asl.json with the OpenAI-compatible provider', () => {
  it('RetryOnServiceException: a 503 from the server is retried by the ASL Retry and charged once', async () => {
    // Prepare: Plan fails once with 503, then the model plans, works one turn, and answers.
    server.queue.push(
      { kind: 'status', status: 503 },
      { kind: 'completion', content: 'Plan: 1. think', usage: { prompt: 1000, completion: 100 } },
      { kind: 'completion', content: 'thinking\nNEXT: answer', usage: { prompt: 2000, completion: 100 } },
      { kind: 'completion', content: 'FINAL: 4', usage: { prompt: 3000, completion: 10, cached: 2000 } },
    );

    // Act
    const { execution } = await startExecution(
      { store: local.runtime.store, engine: local.engine },
      {
        workflow: 'agent-loop',
        input: { goal: '2+2?', model: { provider: 'openai-compatible', name: 'gpt-4o-mini' } },
      },
    );
    await local.orchestrator.drain();

    // Assess
    const row = (await local.runtime.store.getExecution(execution.id))!;
    const steps = await local.runtime.store.listSteps(execution.id);
    const ledger = await local.runtime.store.listCosts(execution.id);
    const costs = ledger.filter((c) => c.kind === 'llm');
    expect(row.status).toBe('succeeded');
    expect(row.output).toMatchObject({ answer: '4', iterations: 2 });
    expect(server.requests).toHaveLength(4);
    expect(steps.filter((s) => s.stateName === 'Plan').map((s) => s.status)).toEqual(['failed', 'succeeded']);
    // gpt-4o-mini: 1000×0.15+100×0.6=210; 2000×0.15+100×0.6=360; 1000×0.15+2000×0.075+10×0.6=306
    expect(costs.map((c) => c.usdMicros)).toEqual([210, 360, 306]);
    expect(costs.reduce((s, c) => s + c.usdMicros, 0)).toBe(876);
    expect(row.costMicros).toBe(ledger.reduce((s, c) => s + c.usdMicros, 0));
    // The conversation is carried between turns: the third call sees the plan and the first turn.
    expect(server.requests[3]!.body.messages.map((m) => m.role)).toEqual([
      'system',
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
    ]);
  });
});
