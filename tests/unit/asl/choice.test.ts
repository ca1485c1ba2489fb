import { describe, expect, it } from 'vitest';
import { choose } from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';
import { errorOf, testScope } from './scope.ts';

/** A Choice state with one rule going to 'Yes' and Default 'No'. */
const choice = (rule: Record<string, unknown>, extra: Partial<AslState> = {}): AslState => ({
  Type: 'Choice',
  Choices: [{ ...rule, Next: 'Yes' }],
  Default: 'No',
  ...extra,
});
const matches = async (
  rule: Record<string, unknown>,
  input: unknown,
  variables: Record<string, unknown> = {},
) => (await choose(choice(rule), input, testScope({ variables }), 'JSONPath')).next === 'Yes';

describe('Choice rules (JSONPath)', () => {
  // Operators from https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html (Choice rules) and
  // https://states-language.net/spec.html#choice-state
  const input = {
    s: 'abc',
    n: 10,
    f: 10.5,
    i: 1,
    nine: 9,
    b: true,
    t: '2016-03-14T01:59:00Z',
    tFrac: '2016-03-14T01:59:00.123456789Z',
    tOffset: '2016-03-14T03:59:00+02:00',
    nul: null,
    other: { s: 'abc', n: 10, f: 10.0, b: true, t: '2016-03-14T01:59:00Z' },
    file: 'log-2024.txt',
    star: 'a*b',
  };
  const table: [string, Record<string, unknown>, boolean][] = [
    ['StringEquals', { Variable: '$.s', StringEquals: 'abc' }, true],
    ['StringEquals on a number is false', { Variable: '$.n', StringEquals: '10' }, false],
    ['StringLessThan', { Variable: '$.s', StringLessThan: 'abd' }, true],
    ['StringGreaterThan', { Variable: '$.s', StringGreaterThan: 'abd' }, false],
    ['StringLessThanEquals', { Variable: '$.s', StringLessThanEquals: 'abc' }, true],
    ['StringGreaterThanEquals', { Variable: '$.s', StringGreaterThanEquals: 'abc' }, true],
    ['StringEqualsPath', { Variable: '$.s', StringEqualsPath: '$.other.s' }, true],
    ['StringLessThanPath', { Variable: '$.s', StringLessThanPath: '$.other.s' }, false],
    ['StringGreaterThanPath', { Variable: '$.s', StringGreaterThanPath: '$.other.s' }, false],
    ['StringLessThanEqualsPath', { Variable: '$.s', StringLessThanEqualsPath: '$.other.s' }, true],
    ['StringGreaterThanEqualsPath', { Variable: '$.s', StringGreaterThanEqualsPath: '$.other.s' }, true],
    ['StringMatches with *', { Variable: '$.file', StringMatches: 'log-*.txt' }, true],
    ['StringMatches anchored', { Variable: '$.file', StringMatches: 'log-*' }, true],
    ['StringMatches miss', { Variable: '$.file', StringMatches: '*.csv' }, false],
    ['StringMatches escaped star is literal', { Variable: '$.star', StringMatches: 'a\\*b' }, true],
    ['StringMatches escaped star does not wildcard', { Variable: '$.s', StringMatches: 'a\\*c' }, false],
    [
      'StringMatches regex characters are literal',
      { Variable: '$.file', StringMatches: 'log-2024.tx?' },
      false,
    ],
    ['NumericEquals integer vs float', { Variable: '$.n', NumericEquals: 10.0 }, true],
    ['NumericEquals float', { Variable: '$.f', NumericEquals: 10.5 }, true],
    ['NumericEquals on a string is false', { Variable: '$.s', NumericEquals: 10 }, false],
    ['NumericLessThan int < float', { Variable: '$.n', NumericLessThan: 10.5 }, true],
    ['NumericLessThan is numeric, not lexical (9 < 10)', { Variable: '$.nine', NumericLessThan: 10 }, true],
    ['NumericGreaterThan is numeric, not lexical (10 > 9)', { Variable: '$.n', NumericGreaterThan: 9 }, true],
    ['NumericEquals 1e1 and 10', { Variable: '$.n', NumericEquals: 1e1 }, true],
    ['NumericGreaterThan float > int', { Variable: '$.f', NumericGreaterThan: 10 }, true],
    ['NumericLessThanEquals', { Variable: '$.n', NumericLessThanEquals: 10 }, true],
    ['NumericGreaterThanEquals', { Variable: '$.n', NumericGreaterThanEquals: 11 }, false],
    ['NumericEqualsPath int vs float', { Variable: '$.n', NumericEqualsPath: '$.other.f' }, true],
    ['NumericLessThanPath', { Variable: '$.i', NumericLessThanPath: '$.other.n' }, true],
    ['NumericGreaterThanPath', { Variable: '$.f', NumericGreaterThanPath: '$.other.n' }, true],
    ['NumericLessThanEqualsPath', { Variable: '$.n', NumericLessThanEqualsPath: '$.other.n' }, true],
    ['NumericGreaterThanEqualsPath', { Variable: '$.i', NumericGreaterThanEqualsPath: '$.other.n' }, false],
    ['BooleanEquals', { Variable: '$.b', BooleanEquals: true }, true],
    ['BooleanEquals on a string is false', { Variable: '$.s', BooleanEquals: true }, false],
    ['BooleanEqualsPath', { Variable: '$.b', BooleanEqualsPath: '$.other.b' }, true],
    ['TimestampEquals', { Variable: '$.t', TimestampEquals: '2016-03-14T01:59:00Z' }, true],
    [
      'TimestampEquals across offsets',
      { Variable: '$.tOffset', TimestampEquals: '2016-03-14T01:59:00Z' },
      true,
    ],
    [
      'TimestampEquals with fractions',
      { Variable: '$.t', TimestampEquals: '2016-03-14T01:59:00.000Z' },
      true,
    ],
    [
      'TimestampLessThan sub-millisecond',
      { Variable: '$.tFrac', TimestampLessThan: '2016-03-14T01:59:00.12345679Z' },
      true,
    ],
    ['TimestampGreaterThan', { Variable: '$.tFrac', TimestampGreaterThan: '2016-03-14T01:59:00Z' }, true],
    ['TimestampLessThanEquals', { Variable: '$.t', TimestampLessThanEquals: '2016-03-14T01:59:00Z' }, true],
    [
      'TimestampGreaterThanEquals',
      { Variable: '$.t', TimestampGreaterThanEquals: '2017-01-01T00:00:00Z' },
      false,
    ],
    [
      'TimestampEquals on a non-timestamp is false',
      { Variable: '$.s', TimestampEquals: '2016-03-14T01:59:00Z' },
      false,
    ],
    ['TimestampEqualsPath', { Variable: '$.tOffset', TimestampEqualsPath: '$.other.t' }, true],
    ['TimestampLessThanPath', { Variable: '$.t', TimestampLessThanPath: '$.tFrac' }, true],
    ['TimestampGreaterThanPath', { Variable: '$.t', TimestampGreaterThanPath: '$.tFrac' }, false],
    ['TimestampLessThanEqualsPath', { Variable: '$.t', TimestampLessThanEqualsPath: '$.other.t' }, true],
    [
      'TimestampGreaterThanEqualsPath',
      { Variable: '$.tFrac', TimestampGreaterThanEqualsPath: '$.other.t' },
      true,
    ],
    ['IsPresent true', { Variable: '$.s', IsPresent: true }, true],
    ['IsPresent on a missing field', { Variable: '$.missing', IsPresent: true }, false],
    ['IsPresent false on a missing field', { Variable: '$.missing', IsPresent: false }, true],
    ['IsPresent on a null field', { Variable: '$.nul', IsPresent: true }, true],
    ['IsNull', { Variable: '$.nul', IsNull: true }, true],
    ['IsNull false', { Variable: '$.s', IsNull: false }, true],
    ['IsNumeric', { Variable: '$.f', IsNumeric: true }, true],
    ['IsNumeric on a numeric string', { Variable: '$.other.s', IsNumeric: true }, false],
    ['IsString', { Variable: '$.s', IsString: true }, true],
    ['IsBoolean', { Variable: '$.b', IsBoolean: true }, true],
    ['IsBoolean false on a string', { Variable: '$.s', IsBoolean: false }, true],
    ['IsTimestamp', { Variable: '$.tOffset', IsTimestamp: true }, true],
    ['IsTimestamp on a date only', { Variable: '$.s', IsTimestamp: true }, false],
    [
      'And',
      {
        And: [
          { Variable: '$.n', NumericGreaterThanEquals: 10 },
          { Variable: '$.n', NumericLessThan: 20 },
        ],
      },
      true,
    ],
    [
      'Or',
      {
        Or: [
          { Variable: '$.s', StringEquals: 'x' },
          { Variable: '$.b', BooleanEquals: true },
        ],
      },
      true,
    ],
    ['Not', { Not: { Variable: '$.s', StringEquals: 'abc' } }, false],
    [
      'nested And / Or / Not',
      {
        And: [
          { Not: { Variable: '$.missing', IsPresent: true } },
          { Or: [{ Variable: '$.n', NumericEquals: 1 }, { Not: { Variable: '$.b', BooleanEquals: false } }] },
        ],
      },
      true,
    ],
    ['context path variable', { Variable: '$$.State.Name', StringEquals: 'S' }, true],
  ];
  it.each(table)('%s → %s', async (_name, rule, expected) => {
    expect(await matches(rule, input)).toBe(expected);
  });

  it('compares workflow variables', async () => {
    expect(await matches({ Variable: '$limit', NumericGreaterThan: 5 }, {}, { limit: 6 })).toBe(true);
    expect(await matches({ Variable: '$.n', NumericEqualsPath: '$limit' }, { n: 6 }, { limit: 6 })).toBe(
      true,
    );
  });

  it('documented example: first matching rule wins, in order', async () => {
    // https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
    const state: AslState = {
      Type: 'Choice',
      Choices: [
        { Not: { Variable: '$.type', StringEquals: 'Private' }, Next: 'Public' },
        { Variable: '$.value', NumericEquals: 0, Next: 'ValueIsZero' },
        {
          And: [
            { Variable: '$.value', NumericGreaterThanEquals: 20 },
            { Variable: '$.value', NumericLessThan: 30 },
          ],
          Next: 'ValueInTwenties',
        },
      ],
      Default: 'DefaultState',
    };
    const next = async (input: unknown) => (await choose(state, input, testScope(), 'JSONPath')).next;
    expect(await next({ type: 'Public', value: 0 })).toBe('Public');
    expect(await next({ type: 'Private', value: 0 })).toBe('ValueIsZero');
    expect(await next({ type: 'Private', value: 25 })).toBe('ValueInTwenties');
    expect(await next({ type: 'Private', value: 35 })).toBe('DefaultState');
  });

  it('output is OutputPath of the effective input; the matched rule assigns, Default uses the state Assign', async () => {
    const state: AslState = {
      Type: 'Choice',
      InputPath: '$.in',
      OutputPath: '$.keep',
      Choices: [{ Variable: '$.v', NumericEquals: 1, Next: 'Yes', Assign: { 'matched.$': '$.v' } }],
      Default: 'No',
      Assign: { fellThrough: true },
    };
    expect(await choose(state, { in: { v: 1, keep: 'k' } }, testScope(), 'JSONPath')).toEqual({
      next: 'Yes',
      output: 'k',
      assign: { matched: 1 },
    });
    expect(await choose(state, { in: { v: 2, keep: 'k' } }, testScope(), 'JSONPath')).toEqual({
      next: 'No',
      output: 'k',
      assign: { fellThrough: true },
    });
  });

  it('no match and no Default: States.NoChoiceMatched', async () => {
    const state: AslState = { Type: 'Choice', Choices: [{ Variable: '$.v', NumericEquals: 1, Next: 'Yes' }] };
    expect((await errorOf(choose(state, { v: 2 }, testScope(), 'JSONPath'))).name).toBe(
      'States.NoChoiceMatched',
    );
  });

  it.each<[string, Record<string, unknown>]>([
    ['a Variable that matches nothing', { Variable: '$.missing', StringEquals: 'x' }],
    ['a …Path operand that matches nothing', { Variable: '$.s', StringEqualsPath: '$.missing' }],
    ['an unknown operator', { Variable: '$.s', StringContains: 'x' }],
  ])('%s is States.Runtime', async (_name, rule) => {
    expect((await errorOf(matches(rule, { s: 'x' }))).name).toBe('States.Runtime');
  });
});

describe('Choice rules (JSONata)', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html (JSONata Condition, Assign, Output)
  const state: AslState = {
    Type: 'Choice',
    QueryLanguage: 'JSONata',
    Choices: [
      {
        Condition: '{% $states.input.n > $limit %}',
        Next: 'Big',
        Output: { n: '{% $states.input.n %}' },
        Assign: { seen: '{% $states.input.n %}' },
      },
      { Condition: true, Next: 'Always' },
    ],
    Default: 'Never',
  };
  it('the first true Condition wins, with its Output and Assign', async () => {
    expect(await choose(state, { n: 7 }, testScope({ variables: { limit: 5 } }), 'JSONata')).toEqual({
      next: 'Big',
      output: { n: 7 },
      assign: { seen: 7 },
    });
  });
  it('a literal true Condition; output defaults to the input', async () => {
    expect(await choose(state, { n: 1 }, testScope({ variables: { limit: 5 } }), 'JSONata')).toEqual({
      next: 'Always',
      output: { n: 1 },
      assign: {},
    });
  });
  it('Default with the state Output and Assign', async () => {
    const s: AslState = {
      Type: 'Choice',
      Choices: [{ Condition: '{% false %}', Next: 'X' }],
      Default: 'D',
      Output: '{% "default" %}',
      Assign: { d: 1 },
    };
    expect(await choose(s, {}, testScope(), 'JSONata')).toEqual({
      next: 'D',
      output: 'default',
      assign: { d: 1 },
    });
  });
  it('a Condition that is not a boolean is States.QueryEvaluationError', async () => {
    const s: AslState = { Type: 'Choice', Choices: [{ Condition: '{% "yes" %}', Next: 'X' }], Default: 'D' };
    expect((await errorOf(choose(s, {}, testScope(), 'JSONata'))).name).toBe('States.QueryEvaluationError');
  });
  it('no match and no Default: States.NoChoiceMatched', async () => {
    const s: AslState = { Type: 'Choice', Choices: [{ Condition: '{% false %}', Next: 'X' }] };
    expect((await errorOf(choose(s, {}, testScope(), 'JSONata'))).name).toBe('States.NoChoiceMatched');
  });
});
