import { describe, expect, it } from 'vitest';
import { ExecutionFinishInputSchema } from '#shared/activities/execution-finish';
import { LlmInvokeInputSchema } from '#shared/activities/llm-invoke';
import { StepFunctionsContextSchema } from '#shared/step-context';
import { StartExecutionBodySchema } from '../../../functions/api/schemas.ts';

const ctx = {
  Execution: { Name: 'e' },
  State: { Name: 'Plan', EnteredTime: '2026-11-21T00:00:00.000Z', RetryCount: 0 },
  StateMachine: { Name: 'agent-loop' },
};

describe('Schemas', () => {
  it('StartExecutionRequest defaults input and refuses negative or sub-micro budgets and bad keys', () => {
    expect(StartExecutionBodySchema.parse({})).toEqual({ input: {} });
    expect(StartExecutionBodySchema.safeParse({ budgetUsd: -0.01 }).success).toBe(false);
    expect(StartExecutionBodySchema.safeParse({ budgetUsd: 0.0000005 }).success).toBe(false);
    expect(StartExecutionBodySchema.safeParse({ budgetUsd: 0.000001 }).success).toBe(true);
    expect(StartExecutionBodySchema.safeParse({ idempotencyKey: 'has space' }).success).toBe(false);
    expect(StartExecutionBodySchema.safeParse({ input: [] }).success).toBe(false);
  });

  it('the Step Functions context needs execution name, state name and entered time', () => {
    expect(StepFunctionsContextSchema.safeParse(ctx).success).toBe(true);
    const missing = StepFunctionsContextSchema.safeParse({ ...ctx, State: { Name: 'Plan' } });
    expect(missing.success).toBe(false);
    expect(missing.error?.issues[0]?.path).toEqual(['State', 'EnteredTime']);
  });

  it('llm-invoke input applies defaults and bounds', () => {
    const parsed = LlmInvokeInputSchema.parse({ context: ctx, prompt: 'hi' });
    expect(parsed.messages).toEqual([]);
    expect(parsed.parseDirective).toBe(false);
    expect(LlmInvokeInputSchema.safeParse({ context: ctx, prompt: 'hi', temperature: 3 }).success).toBe(
      false,
    );
    expect(
      LlmInvokeInputSchema.safeParse({ context: ctx, messages: [{ role: 'system', content: 'x' }] }).success,
    ).toBe(false);
  });

  it('execution-finish accepts only terminal statuses', () => {
    expect(ExecutionFinishInputSchema.safeParse({ context: ctx, status: 'succeeded' }).success).toBe(true);
    expect(ExecutionFinishInputSchema.safeParse({ context: ctx, status: 'running' }).success).toBe(false);
    expect(ExecutionFinishInputSchema.safeParse({ context: ctx, status: 'done' }).success).toBe(false);
  });
});
