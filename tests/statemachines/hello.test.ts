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
