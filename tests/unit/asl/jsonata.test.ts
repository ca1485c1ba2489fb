import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stateOutput, taskParameters } from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';
import { asl, errorOf, testScope } from './scope.ts';

/** Evaluates one `{% %}` expression as a JSONata Pass state's Output. */
async function jsonataOf(expression: string, input: unknown = {}, scope = testScope()): Promise<unknown> {
  return (await stateOutput({ Type: 'Pass', Output: `{% ${expression} %}` }, input, input, scope, 'JSONata'))
    .output;
}

describe('JSONata states', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html
  it('Arguments: {% %} strings anywhere in the value, $states.input and variables bound', async () => {
    // Prepare
    const state: AslState = {
      Type: 'Task',
      Arguments: {
        FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
        Payload: {
          total: '{% $sum($states.input.items.price) %}',
          customer: '{% $customer %}',
          tags: ['{% $uppercase($states.input.tag) %}', 'x'],
        },
        Whole: '{% $states.input %}',
        Literal: 'no expression {% here',
      },
    };
    // Act
    const args = await taskParameters(
      state,
      { items: [{ price: 2 }, { price: 3 }], tag: 'a' },
      testScope({ variables: { customer: 'c1' } }),
      'JSONata',
    );
    // Assess
    expect(args).toEqual({
      FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
      Payload: { total: 5, customer: 'c1', tags: ['A', 'x'] },
      Whole: { items: [{ price: 2 }, { price: 3 }], tag: 'a' },
      Literal: 'no expression {% here',
    });
  });

  it('Arguments as one expression', async () => {
    expect(
      await taskParameters(
        asl({ Type: 'Task', Arguments: '{% $states.input.a %}' }),
        { a: [1] },
        testScope(),
        'JSONata',
      ),
    ).toEqual([1]);
  });

  it('Task Output and Assign see $states.input and $states.result; both read the variables as they were', async () => {
    const state: AslState = {
      Type: 'Task',
      Output: { result: '{% $states.result.Payload %}', from: '{% $states.input.id %}', old: '{% $count %}' },
      Assign: { count: '{% $count + 1 %}', lastId: '{% $states.input.id %}' },
    };
    const out = await stateOutput(
      state,
      { id: 'x' },
      { Payload: 42 },
      testScope({ variables: { count: 1 } }),
      'JSONata',
    );
    expect(out).toEqual({ output: { result: 42, from: 'x', old: 1 }, assign: { count: 2, lastId: 'x' } });
  });

  it('default output: the result for Task/Map/Parallel, the input for Pass and Wait', async () => {
    expect((await stateOutput({ Type: 'Task' }, { i: 1 }, { r: 1 }, testScope(), 'JSONata')).output).toEqual({
      r: 1,
    });
    expect((await stateOutput({ Type: 'Map' }, { i: 1 }, [1, 2], testScope(), 'JSONata')).output).toEqual([
      1, 2,
    ]);
    expect((await stateOutput({ Type: 'Pass' }, { i: 1 }, { i: 1 }, testScope(), 'JSONata')).output).toEqual({
      i: 1,
    });
    expect(
      (await stateOutput({ Type: 'Wait', Seconds: 1 }, { i: 1 }, undefined, testScope(), 'JSONata')).output,
    ).toEqual({ i: 1 });
  });

  it('$states.context', async () => {
    expect(await jsonataOf('$states.context.Execution.Input.original')).toBe(true);
  });

  it('JSONPath fields are ignored in a JSONata state', async () => {
    const state: AslState = {
      Type: 'Task',
      ResultPath: '$.x',
      OutputPath: '$.y',
      ResultSelector: { 'a.$': '$.b' },
    };
    expect((await stateOutput(state, { i: 1 }, { r: 1 }, testScope(), 'JSONata')).output).toEqual({ r: 1 });
  });

  // The functions Step Functions adds to JSONata:
  // https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html#jsonata-functions
  const functions: [string, string, unknown][] = [
    [
      '$partition',
      '$partition([1,2,3,4], 2)',
      [
        [1, 2],
        [3, 4],
      ],
    ],
    ['$range', '$range(0, 10, 2)', [0, 2, 4, 6, 8, 10]],
    ['$hash', '$hash("input data", "SHA-256")', createHash('sha256').update('input data').digest('hex')],
    ['$parse', '$parse(\'{"a": [1]}\')', { a: [1] }],
    ['$uuid from the scope', '$uuid()', '00000000-0000-4000-8000-000000000001'],
    ['$random from the scope', '$random()', 0.25],
    ['$now from the scope clock', '$now()', '2024-01-01T00:00:00.000Z'],
    ['$millis from the scope clock', '$millis()', Date.UTC(2024, 0, 1)],
    ['a built-in JSONata function', '$join(["a","b"], "-")', 'a-b'],
    ['sequences become plain arrays', '[1,2,3][$ > 1]', [2, 3]],
  ];
  it.each(functions)('%s', async (_name, expression, expected) => {
    expect(await jsonataOf(expression, {}, testScope({ randoms: [0.25] }))).toEqual(expected);
  });

  it('$random(seed) repeats for the same seed', async () => {
    const a = await jsonataOf('$random(7)');
    expect(await jsonataOf('$random(7)')).toBe(a);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
  });

  const failures: [string, string][] = [
    ['an undefined result', '$states.input.missing'],
    ['a syntax error', '$states.input.('],
    ['an evaluation error', '$number("x") + {}'],
    ['$partition with a bad size', '$partition([1], 0)'],
    ['$range over 1000 items', '$range(1, 2000)'],
    ['$hash with an unknown algorithm', '$hash("x", "CRC32")'],
    ['$parse of bad JSON', '$parse("{")'],
    ['a function value', '$uppercase'],
  ];
  it.each(failures)('%s is States.QueryEvaluationError', async (_name, expression) => {
    const error = await errorOf(jsonataOf(expression));
    expect(error.name).toBe('States.QueryEvaluationError');
  });

  it('Assign that is not an object is States.Runtime', async () => {
    expect(
      (await errorOf(stateOutput({ Type: 'Pass', Assign: '{% 1 %}' }, {}, {}, testScope(), 'JSONata'))).name,
    ).toBe('States.Runtime');
  });
});
