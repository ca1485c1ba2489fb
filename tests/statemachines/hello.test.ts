import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecution } from '#shared/executions';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';

let local: LocalRuntime;
beforeAll(async () => {
  local = await startLocal();
});
afterAll(async () => {
  await stopLocal(local);
});

async function runHello(input: Record<string, unknown>) {
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow: 'hello', input },
  );
  await local.orchestrator.drain();
  return (await local.runtime.store.getExecution(execution.id))!;
}

describe('State machine: hello.asl.json', () => {
  it('HappyPath: greets the given name and records the output', async () => {
    const execution = await runHello({ name: 'Ada' });
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toEqual({ greeting: 'Hello, Ada!' });
  });

  it('DefaultName: greets the world when the input has no name', async () => {
    const execution = await runHello({});
    expect(execution.output).toEqual({ greeting: 'Hello, world!' });
  });
});

describe('State machine: an input nested far deeper than the API allows', () => {
  it('ends failed with States.Runtime instead of hanging (input 5,000 levels deep, past the API check: no state output can be serialized)', async () => {
    // Prepare: the row as the API would write it, then the engine directly (the API refuses such input;
    // this checks the interpreter's failure path itself)
    let deep: unknown = 'leaf';
    for (let i = 0; i < 5_000; i++) deep = [deep];
    const { execution } = await local.runtime.store.createExecution({
      id: `hello-deep-${Date.now()}`,
      workflow: 'hello',
      input: {},
      budgetMicros: null,
      idempotencyKey: null,
      running: true,
    });

    // Act
    await local.engine.startExecution('hello', execution.id, { name: 'x', payload: deep });
    const ended = await Promise.race([
      local.orchestrator.drain().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 60_000).unref()),
    ]);

    // Assess
    expect(ended, 'the run never ended').toBe(true);
    const row = await local.runtime.store.getExecution(execution.id);
    expect(row?.status, JSON.stringify(row?.error)).toBe('failed');
    expect(row?.error).toMatchObject({
      error: 'States.Runtime',
      cause: expect.stringMatching(/nested too deeply/),
    });
  });
});
