import type { Scope } from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';

/** A deterministic Scope: fixed clock, a counter for UUIDs, a fixed sequence for random(). */
export function testScope(
  overrides: Partial<Omit<Scope, 'random' | 'uuid'>> & { randoms?: number[] } = {},
): Scope {
  const randoms = [...(overrides.randoms ?? [0.5])];
  let uuids = 0;
  return {
    context: overrides.context ?? {
      Execution: {
        Id: 'arn:aws:states:us-east-1:123456789012:execution:sm:run-1',
        Input: { original: true },
      },
      State: { Name: 'S', EnteredTime: '2024-01-01T00:00:00.000Z', RetryCount: 0 },
      StateMachine: { Id: 'arn:aws:states:us-east-1:123456789012:stateMachine:sm', Name: 'sm' },
    },
    variables: overrides.variables ?? {},
    nowMs: overrides.nowMs ?? Date.UTC(2024, 0, 1),
    random: () => randoms.shift() ?? 0.5,
    uuid: () => `00000000-0000-4000-8000-${String(++uuids).padStart(12, '0')}`,
  };
}

/** The error thrown by a promise, for asserting its `name` and message. */
export async function errorOf(promise: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, got none');
}

/**
 * A state written as JSON: asl.ts types a few fields for JSONPath only (`Arguments` an object, `TimeoutSeconds`
 * a number) while JSONata allows a `{% %}` string there, as the ASL files these tests mirror do.
 */
export function asl(state: { Type: string } & Record<string, unknown>): AslState {
  return state as AslState;
}
