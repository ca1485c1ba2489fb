import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AslDefinition } from '../../../infra/workflows/asl.ts';
import {
  TRANSITIONS_FIELD,
  transitionBounds,
  withTransitionBounds,
} from '../../../infra/workflows/transition-bounds.ts';

const load = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as AslDefinition;
const task = (next: Record<string, unknown>) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: 'f', Payload: { a: 1 } },
  ...next,
});

describe('transitionBounds', () => {
  it('counts the lead-in, the entry and the longest path of non-activity states to the next activity', () => {
    // Prepare: agent-loop has five states before Plan; after Act, CountIteration → ShouldContinue → a Pass
    // before Finish.
    const agent = load('statemachines/agent-loop.asl.json');

    // Act
    const bounds = transitionBounds(agent);

    // Assess
    expect(bounds.get('Plan')).toBe(6);
    expect(bounds.get('Act')).toBe(4);
    // ECS RunTask is not an activity: PrepareCode holds for it.
    expect(bounds.get('PrepareCode')).toBe(2);
    expect(bounds.get('RecordBudgetExceeded')).toBe(2);
  });

  it('gives each Map iteration its own lead-in, and a Catch target counts', () => {
    // Act
    const bounds = transitionBounds(load('tests/fixtures/statemachines/fan-out.asl.json'));

    // Assess: Ask's entry plus the Refused Pass its Catch can enter.
    expect(bounds.get('Ask')).toBe(2);
  });

  it('is null after a loop with no activity in it (not bounded)', () => {
    // Prepare: a Wait/Choice polling loop after the Task
    const def: AslDefinition = {
      StartAt: 'T',
      States: {
        T: task({ Next: 'Wait' }),
        Wait: { Type: 'Wait', Seconds: 1, Next: 'Poll' },
        Poll: {
          Type: 'Choice',
          Choices: [{ Variable: '$.x', BooleanEquals: true, Next: 'Done' }],
          Default: 'Wait',
        },
        Done: { Type: 'Succeed' },
      },
    };

    // Act / Assess
    expect(transitionBounds(def).get('T')).toBeNull();
    expect(withTransitionBounds(def).States.T!.Parameters!.Payload).toEqual({ a: 1 });
  });

  it('writes the bound into each Lambda Task Payload of a copy, leaving the input as it was', () => {
    // Prepare
    const def: AslDefinition = {
      StartAt: 'P',
      States: { P: { Type: 'Pass', Next: 'T' }, T: task({ End: true }) },
    };

    // Act
    const bounded = withTransitionBounds(def);

    // Assess
    expect(bounded.States.T!.Parameters!.Payload).toEqual({ a: 1, [TRANSITIONS_FIELD]: 2 });
    expect(def.States.T!.Parameters!.Payload).toEqual({ a: 1 });
  });
});
