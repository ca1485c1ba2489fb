import { describe, expect, it } from 'vitest';
import { catchOutput, queryLanguageOf, StatesError } from '../../../infra/local/engine/asl/data-flow.ts';
import { readPath, setReferencePath } from '../../../infra/local/engine/asl/paths.ts';
import type { AslDefinition } from '../../../infra/local/engine/workflows.ts';
import type { Catcher } from '../../../infra/workflows/asl.ts';
import { testScope } from './scope.ts';

describe('StatesError', () => {
  it('carries the Step Functions error name and the cause as its message', () => {
    const error = new StatesError('States.Runtime', 'the cause');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('States.Runtime');
    expect(error.message).toBe('the cause');
  });
});

describe('Catchers as asl.ts types them', () => {
  it('are accepted by catchOutput', async () => {
    const catcher: Catcher = { ErrorEquals: ['States.ALL'], Next: 'Handle', ResultPath: '$.err' };
    const { output } = await catchOutput(
      catcher,
      { a: 1 },
      { Error: 'E', Cause: 'C' },
      testScope(),
      'JSONPath',
    );
    expect(output).toEqual({ a: 1, err: { Error: 'E', Cause: 'C' } });
  });
});

describe('Definitions as asl.ts types them', () => {
  it('are accepted by queryLanguageOf', async () => {
    const definition: AslDefinition = {
      StartAt: 'A',
      QueryLanguage: 'JSONata',
      States: { A: { Type: 'Pass', End: true } },
    };
    expect(await queryLanguageOf(definition, definition.States.A!)).toBe('JSONata');
  });
});

describe('Paths', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html
  const roots = { context: { c: 1 }, variables: { v: { w: [10, 20] } } };
  const data = {
    foo: 123,
    bar: ['a', 'b', 'c'],
    car: { cdr: true },
    'def ghi': 1,
    abc: { 'def ghi': 2 },
    n: null,
  };
  it.each<[string, { found: boolean; value?: unknown }]>([
    ['$.foo', { found: true, value: 123 }],
    ['$.bar', { found: true, value: ['a', 'b', 'c'] }],
    ['$.car.cdr', { found: true, value: true }],
    ["$.abc.['def ghi']", { found: true, value: 2 }],
    ["$['def ghi']", { found: true, value: 1 }],
    ['$.bar[-1]', { found: true, value: 'c' }],
    ['$.n', { found: true, value: null }],
    ['$.n.x', { found: false }],
    ['$.missing', { found: false }],
    ['$.bar[3]', { found: false }],
    ['$$.c', { found: true, value: 1 }],
    ['$v.w[1]', { found: true, value: 20 }],
    ['$v.w[*]', { found: true, value: [10, 20] }],
    ['$unknown', { found: false }],
    ['$.bar.length()', { found: true, value: 3 }],
  ])('%s', (path, expected) => {
    expect(readPath(path, data, roots)).toEqual(expected);
  });
  it('ResultPath $ replaces the input, even a primitive one', () => {
    expect(setReferencePath('text', '$', { r: 1 })).toEqual({ r: 1 });
  });
});
