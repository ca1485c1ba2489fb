import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { taskParameters } from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';
import { errorOf, testScope } from './scope.ts';

/** Evaluates one intrinsic as the value of a Pass state's `Parameters` key `r.$`, over `input`. */
async function intrinsic(expression: string, input: unknown = {}, scope = testScope()): Promise<unknown> {
  const state: AslState = { Type: 'Pass', Parameters: { 'r.$': expression } };
  const out = (await taskParameters(state, input, scope, 'JSONPath')) as { r: unknown };
  return out.r;
}

describe('Intrinsic functions', () => {
  // Examples from https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
  const documented: [string, string, unknown, unknown][] = [
    [
      'Format with a path',
      "States.Format('Hello, my name is {}.', $.name)",
      { name: 'Arnav' },
      'Hello, my name is Arnav.',
    ],
    [
      'Format with escapes',
      "States.Format('Today\\'s \\{date\\} is {} and a \\\\ stays', $.d)",
      { d: 'Monday' },
      "Today's {date} is Monday and a \\ stays",
    ],
    [
      'Format with numbers, booleans, null',
      "States.Format('{}-{}-{}', 1.5, true, null)",
      {},
      '1.5-true-null',
    ],
    ['StringToJson', 'States.StringToJson($.someString)', { someString: '{"number": 20}' }, { number: 20 }],
    [
      'JsonToString',
      'States.JsonToString($.someJson)',
      { someJson: { name: 'Foo', year: 2020 } },
      '{"name":"Foo","year":2020}',
    ],
    ['Array', "States.Array($.Id, 1, 'x', true)", { Id: 123456 }, [123456, 1, 'x', true]],
    ['Array empty', 'States.Array()', {}, []],
    [
      'ArrayPartition',
      'States.ArrayPartition($.inputArray, 4)',
      { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
      [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
    ],
    [
      'ArrayContains true',
      'States.ArrayContains($.inputArray, $.lookingFor)',
      { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9], lookingFor: 5 },
      true,
    ],
    [
      'ArrayContains deep',
      'States.ArrayContains($.a, $.v)',
      { a: [{ x: 1, y: [2] }], v: { y: [2], x: 1 } },
      true,
    ],
    ['ArrayContains false', 'States.ArrayContains($.a, 10)', { a: [1, 2] }, false],
    ['ArrayRange', 'States.ArrayRange(1, 9, 2)', {}, [1, 3, 5, 7, 9]],
    ['ArrayRange descending', 'States.ArrayRange(5, 1, -2)', {}, [5, 3, 1]],
    ['ArrayRange 1000 items', 'States.ArrayLength(States.ArrayRange(1, 1000, 1))', {}, 1000],
    [
      'ArrayGetItem',
      'States.ArrayGetItem($.inputArray, $.index)',
      { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9], index: 5 },
      6,
    ],
    ['ArrayLength', 'States.ArrayLength($.inputArray)', { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, 9],
    [
      'ArrayUnique',
      'States.ArrayUnique($.inputArray)',
      { inputArray: [1, 2, 3, 3, 3, 3, 3, 3, 4, { a: 1 }, { a: 1 }] },
      [1, 2, 3, 4, { a: 1 }],
    ],
    ['Base64Encode', 'States.Base64Encode($.input)', { input: 'Data to encode' }, 'RGF0YSB0byBlbmNvZGU='],
    ['Base64Decode', 'States.Base64Decode($.base64)', { base64: 'RGF0YSB0byBlbmNvZGU=' }, 'Data to encode'],
    [
      'Hash SHA-1',
      "States.Hash($.Data, 'SHA-1')",
      { Data: 'input data' },
      createHash('sha1').update('input data').digest('hex'),
    ],
    ['Hash MD5', "States.Hash('x', 'MD5')", {}, createHash('md5').update('x').digest('hex')],
    ['Hash SHA-256', "States.Hash('x', 'SHA-256')", {}, createHash('sha256').update('x').digest('hex')],
    ['Hash SHA-384', "States.Hash('x', 'SHA-384')", {}, createHash('sha384').update('x').digest('hex')],
    [
      'Hash SHA-512',
      "States.Hash('x', $.alg)",
      { alg: 'SHA-512' },
      createHash('sha512').update('x').digest('hex'),
    ],
    [
      'JsonMerge is shallow',
      'States.JsonMerge($.json1, $.json2, false)',
      { json1: { a: { a1: 1, a2: 2 }, b: 2 }, json2: { a: { a3: 1, a4: 2 }, c: 3 } },
      { a: { a3: 1, a4: 2 }, b: 2, c: 3 },
    ],
    ['MathAdd', 'States.MathAdd($.value1, $.step)', { value1: 111, step: -1 }, 110],
    [
      'StringSplit one delimiter',
      'States.StringSplit($.inputString, $.splitter)',
      { inputString: '1,2,3,4,5', splitter: ',' },
      ['1', '2', '3', '4', '5'],
    ],
    [
      'StringSplit several delimiters',
      'States.StringSplit($.inputString, $.splitter)',
      { inputString: 'This.is+a,test=string', splitter: '.+,=' },
      ['This', 'is', 'a', 'test', 'string'],
    ],
    ['UUID', 'States.UUID()', {}, '00000000-0000-4000-8000-000000000001'],
    [
      'nested calls',
      "States.ArrayGetItem(States.StringSplit(States.Format('{}|{}', $.a, $.b), '|'), 1)",
      { a: 'x', b: 'y' },
      'y',
    ],
    [
      'context path',
      "States.Format('{}', $$.Execution.Id)",
      {},
      'arn:aws:states:us-east-1:123456789012:execution:sm:run-1',
    ],
    ['path with brackets and commas', "States.Format('{}', $['a,b'])", { 'a,b': 'comma' }, 'comma'],
    ['indefinite path argument', 'States.ArrayLength($.items[*].id)', { items: [{ id: 1 }, { id: 2 }] }, 2],
    ['Jayway length()', 'States.MathAdd($.items.length(), 0)', { items: [1, 2, 3] }, 3],
    ['string literal with a comma and parenthesis', "States.Format('a, b) {}', 'c')", {}, 'a, b) c'],
  ];
  it.each(documented)('%s', async (_name, expression, input, expected) => {
    // Prepare / Act
    const value = await intrinsic(expression, input);
    // Assess
    expect(value).toEqual(expected);
  });

  it('reads workflow variables as arguments', async () => {
    expect(
      await intrinsic(
        "States.Format('{} {}', $greeting, $user.name)",
        {},
        testScope({ variables: { greeting: 'hi', user: { name: 'Ana' } } }),
      ),
    ).toBe('hi Ana');
  });

  it('MathRandom takes the engine random() over [start, end), and a seed gives a repeatable number', async () => {
    // Prepare
    const scope = testScope({ randoms: [0, 0.999999] });
    // Act
    const low = await intrinsic('States.MathRandom(1, 999)', {}, scope);
    const high = await intrinsic('States.MathRandom(1, 999)', {}, scope);
    const seeded1 = await intrinsic('States.MathRandom(1, 999, 1234)');
    const seeded2 = await intrinsic('States.MathRandom(1, 999, 1234)');
    // Assess
    expect(low).toBe(1);
    expect(high).toBe(998);
    expect(seeded1).toBe(seeded2);
    expect(seeded1).toBeGreaterThanOrEqual(1);
    expect(seeded1).toBeLessThan(999);
  });

  const failures: [string, string, unknown, string][] = [
    ['Format with too few arguments', "States.Format('{} {}', 'a')", {}, 'States.IntrinsicFailure'],
    ['Format with too many arguments', "States.Format('{}', 'a', 'b')", {}, 'States.IntrinsicFailure'],
    ['Format with an object', "States.Format('{}', $.o)", { o: { a: 1 } }, 'States.IntrinsicFailure'],
    ['StringToJson of bad JSON', "States.StringToJson('{nope')", {}, 'States.IntrinsicFailure'],
    ['ArrayPartition size 0', 'States.ArrayPartition($.a, 0)', { a: [1] }, 'States.IntrinsicFailure'],
    ['ArrayRange over 1000 items', 'States.ArrayRange(1, 1001, 1)', {}, 'States.IntrinsicFailure'],
    ['ArrayRange step 0', 'States.ArrayRange(1, 2, 0)', {}, 'States.IntrinsicFailure'],
    [
      'ArrayGetItem out of bounds',
      'States.ArrayGetItem($.a, 3)',
      { a: [1, 2, 3] },
      'States.IntrinsicFailure',
    ],
    ['ArrayLength of a string', "States.ArrayLength('abc')", {}, 'States.IntrinsicFailure'],
    ['Base64Decode of non-base64', "States.Base64Decode('***')", {}, 'States.IntrinsicFailure'],
    [
      'Base64Encode over 10000 characters',
      'States.Base64Encode($.s)',
      { s: 'x'.repeat(10_001) },
      'States.IntrinsicFailure',
    ],
    ['Hash with an unknown algorithm', "States.Hash('x', 'SHA-3')", {}, 'States.IntrinsicFailure'],
    ['JsonMerge deep', 'States.JsonMerge($.a, $.b, true)', { a: {}, b: {} }, 'States.IntrinsicFailure'],
    [
      'JsonMerge of an array',
      'States.JsonMerge($.a, $.b, false)',
      { a: [], b: {} },
      'States.IntrinsicFailure',
    ],
    ['MathRandom end before start', 'States.MathRandom(5, 1)', {}, 'States.IntrinsicFailure'],
    ['MathAdd of a string', "States.MathAdd('1', 2)", {}, 'States.IntrinsicFailure'],
    ['UUID with an argument', 'States.UUID(1)', {}, 'States.IntrinsicFailure'],
    ['unknown function', 'States.Nope(1)', {}, 'States.IntrinsicFailure'],
    ['unterminated string', "States.Format('abc)", {}, 'States.IntrinsicFailure'],
    ['missing parenthesis', "States.Format('abc'", {}, 'States.IntrinsicFailure'],
    ['a path argument that matches nothing', "States.Format('{}', $.missing)", {}, 'States.Runtime'],
  ];
  it.each(failures)('%s fails with %s', async (_name, expression, input, errorName) => {
    const error = await errorOf(intrinsic(expression, input));
    expect(error.name).toBe(errorName);
  });
});
