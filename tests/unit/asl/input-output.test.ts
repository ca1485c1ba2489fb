import { describe, expect, it } from 'vitest';
import {
  catchOutput,
  effectiveInput,
  mapItemInput,
  queryLanguageOf,
  stateOutput,
  taskParameters,
} from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';
import { errorOf, testScope } from './scope.ts';

const task = (fields: Partial<AslState> = {}): AslState => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  ...fields,
});

describe('Query language', () => {
  it.each([
    [{}, {}, 'JSONPath'],
    [{ QueryLanguage: 'JSONata' }, {}, 'JSONata'],
    [{ QueryLanguage: 'JSONPath' }, { QueryLanguage: 'JSONata' }, 'JSONata'],
  ])('definition %j, state %j → %s', async (definition, state, expected) => {
    expect(await queryLanguageOf(definition, { Type: 'Pass', ...state })).toBe(expected);
  });
  it('refuses an unknown query language with States.Runtime', async () => {
    expect((await errorOf(queryLanguageOf({ QueryLanguage: 'XPath' }, { Type: 'Pass' }))).name).toBe(
      'States.Runtime',
    );
  });
});

describe('InputPath', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
  const input = {
    comment: 'Example for InputPath.',
    dataset1: { val1: 1, val2: 2, val3: 3 },
    dataset2: { val1: 'a', val2: 'b', val3: 'c' },
    a: [1, 2, 3, 4],
  };
  it.each<[string, Partial<AslState>, unknown]>([
    ['absent: the whole input', {}, input],
    ['$.dataset2', { InputPath: '$.dataset2' }, { val1: 'a', val2: 'b', val3: 'c' }],
    ['a slice yields an array', { InputPath: '$.a[0:2]' }, [1, 2]],
    ['null: {}', { InputPath: null }, {}],
    ['context path', { InputPath: '$$.Execution.Input' }, { original: true }],
  ])('%s', async (_name, fields, expected) => {
    expect(await effectiveInput(task(fields), input, testScope(), 'JSONPath')).toEqual(expected);
  });
  it('a path that matches nothing is States.Runtime', async () => {
    expect(
      (await errorOf(effectiveInput(task({ InputPath: '$.nope' }), input, testScope(), 'JSONPath'))).name,
    ).toBe('States.Runtime');
  });
  it('JSONata states take the raw input', async () => {
    expect(await effectiveInput(task({ InputPath: '$.a' }), input, testScope(), 'JSONata')).toBe(input);
  });
});

describe('Parameters (payload templates)', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
  const input = {
    comment: 'Example for Parameters.',
    product: {
      details: { color: 'blue', size: 'small', material: 'cotton' },
      availability: 'in stock',
      sku: '2317',
      cost: '$23',
    },
    list: [
      { id: 1, ok: true },
      { id: 2, ok: false },
      { id: 3, ok: true },
    ],
    nothing: null,
  };
  it.each<[string, unknown, unknown]>([
    [
      'documented example',
      {
        comment: 'Selecting what I care about.',
        MyDetails: {
          'size.$': '$.product.details.size',
          'exists.$': '$.product.availability',
          StaticValue: 'foo',
        },
      },
      {
        comment: 'Selecting what I care about.',
        MyDetails: { size: 'small', exists: 'in stock', StaticValue: 'foo' },
      },
    ],
    [
      'context object',
      { 'execution.$': '$$.Execution.Id', 'name.$': '$$.State.Name' },
      { execution: 'arn:aws:states:us-east-1:123456789012:execution:sm:run-1', name: 'S' },
    ],
    ['the whole input', { 'all.$': '$' }, { all: input }],
    ['a null value is kept', { 'n.$': '$.nothing' }, { n: null }],
    ['wildcard yields the array of matches', { 'ids.$': '$.list[*].id' }, { ids: [1, 2, 3] }],
    ['deep scan yields the array of matches', { 'colors.$': '$..color' }, { colors: ['blue'] }],
    ['filter expression', { 'ok.$': '$.list[?(@.ok == true)].id' }, { ok: [1, 3] }],
    ['an indefinite path that matches nothing yields []', { 'none.$': '$.list[?(@.id > 10)]' }, { none: [] }],
    ['bracket notation', { 'sku.$': "$['product']['sku']" }, { sku: '2317' }],
    ['array index', { 'second.$': '$.list[1].id' }, { second: 2 }],
    [
      'templates inside arrays',
      { arr: [{ 'c.$': '$.product.cost' }, 'plain'] },
      { arr: [{ c: '$23' }, 'plain'] },
    ],
    [
      'intrinsic',
      { 'msg.$': "States.Format('{} is {}', $.product.sku, $.product.availability)" },
      { msg: '2317 is in stock' },
    ],
    [
      'non-.$ keys are literal even when they look like paths',
      { literal: '$.product' },
      { literal: '$.product' },
    ],
  ])('%s', async (_name, parameters, expected) => {
    expect(
      await taskParameters(
        task({ Parameters: parameters as Record<string, unknown> }),
        input,
        testScope(),
        'JSONPath',
      ),
    ).toEqual(expected);
  });

  it('reads workflow variables ($name and $name.path)', async () => {
    const scope = testScope({ variables: { productName: 'product1', order: { id: 7 } } });
    expect(
      await taskParameters(
        task({ Parameters: { 'p.$': '$productName', 'id.$': '$order.id' } }),
        {},
        scope,
        'JSONPath',
      ),
    ).toEqual({ p: 'product1', id: 7 });
  });

  it('a definite path that matches nothing is States.Runtime naming the field (as Step Functions reports it)', async () => {
    const error = await errorOf(
      taskParameters(task({ Parameters: { 'x.$': '$.product.weight' } }), input, testScope(), 'JSONPath'),
    );
    expect(error.name).toBe('States.Runtime');
    expect(error.message).toContain("'x.$'");
  });

  it('an unknown variable is States.Runtime', async () => {
    expect(
      (await errorOf(taskParameters(task({ Parameters: { 'x.$': '$nope' } }), {}, testScope(), 'JSONPath')))
        .name,
    ).toBe('States.Runtime');
  });

  it('absent: the effective input, unchanged; a Map keeps its Parameters for each item', async () => {
    expect(await taskParameters(task(), input, testScope(), 'JSONPath')).toBe(input);
    expect(
      await taskParameters({ Type: 'Map', Parameters: { 'a.$': '$.x' } }, input, testScope(), 'JSONPath'),
    ).toBe(input);
  });
});

describe('ResultSelector, ResultPath, OutputPath', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html and
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-example.html
  const input = { comment: 'This is a test', details: 'Default example', who: 'Step Functions' };
  const result = 'Hello, Step Functions!';
  it.each<[string, Partial<AslState>, unknown, unknown, unknown]>([
    ['default: the result replaces the input', {}, input, result, result],
    ['ResultPath $', { ResultPath: '$' }, input, result, result],
    ['ResultPath null keeps the input', { ResultPath: null }, input, result, input],
    [
      'ResultPath $.taskresult adds the result',
      { ResultPath: '$.taskresult' },
      input,
      result,
      { ...input, taskresult: result },
    ],
    [
      'ResultPath replaces an existing node',
      { ResultPath: '$.details' },
      input,
      result,
      { ...input, details: result },
    ],
    [
      'ResultPath creates intermediate objects',
      { ResultPath: '$.a.b.c' },
      input,
      1,
      { ...input, a: { b: { c: 1 } } },
    ],
    ['ResultPath into an array element', { ResultPath: '$.list[1]' }, { list: [0, 0] }, 9, { list: [0, 9] }],
    [
      'OutputPath selects from the ResultPath output',
      { ResultPath: '$.r', OutputPath: '$.r.Payload' },
      input,
      { Payload: { ok: 1 } },
      { ok: 1 },
    ],
    ['OutputPath null: {}', { OutputPath: null }, input, result, {}],
    [
      'ResultSelector shapes the result before ResultPath',
      {
        ResultSelector: {
          'ClusterId.$': '$.output.ClusterId',
          'ResourceType.$': '$.resourceType',
          static: 1,
        },
        ResultPath: '$.EMROutput',
      },
      { in: 1 },
      { resourceType: 'elasticmapreduce', output: { ClusterId: 'AKIAIOSFODNN7EXAMPLE', other: 2 } },
      {
        in: 1,
        EMROutput: { ClusterId: 'AKIAIOSFODNN7EXAMPLE', ResourceType: 'elasticmapreduce', static: 1 },
      },
    ],
    [
      'ResultSelector with an intrinsic over the result',
      { ResultSelector: { 'identity.$': 'States.StringToJson($.Payload.body)' } },
      {},
      { Payload: { body: '{"approved":true}' } },
      { identity: { approved: true } },
    ],
  ])('%s', async (_name, fields, rawInput, taskResult, expected) => {
    const { output, assign } = await stateOutput(task(fields), rawInput, taskResult, testScope(), 'JSONPath');
    expect(output).toEqual(expected);
    expect(assign).toEqual({});
  });

  it('does not modify the input it merged the result into', async () => {
    const raw = { a: { b: 1 } };
    await stateOutput(task({ ResultPath: '$.a.c' }), raw, 2, testScope(), 'JSONPath');
    expect(raw).toEqual({ a: { b: 1 } });
  });

  it.each<[string, Partial<AslState>, unknown, string]>([
    ['ResultPath into a string input', { ResultPath: '$.r' }, 'a string', 'States.ResultPathMatchFailure'],
    ['ResultPath through a non-object', { ResultPath: '$.who.name' }, input, 'States.ResultPathMatchFailure'],
    [
      'ResultPath past an array end',
      { ResultPath: '$.list[5]' },
      { list: [] },
      'States.ResultPathMatchFailure',
    ],
    [
      'ResultPath not a reference path',
      { ResultPath: '$.list[*]' },
      { list: [] },
      'States.ResultPathMatchFailure',
    ],
    ['OutputPath that matches nothing', { OutputPath: '$.nope' }, input, 'States.Runtime'],
    [
      'ResultSelector path that matches nothing',
      { ResultSelector: { 'x.$': '$.nope' } },
      input,
      'States.Runtime',
    ],
  ])('%s fails with %s', async (_name, fields, rawInput, errorName) => {
    expect((await errorOf(stateOutput(task(fields), rawInput, result, testScope(), 'JSONPath'))).name).toBe(
      errorName,
    );
  });

  it('Pass uses its Result, placed by ResultPath, and has no ResultSelector', async () => {
    // https://docs.aws.amazon.com/step-functions/latest/dg/state-pass.html
    const pass: AslState = {
      Type: 'Pass',
      Result: { x: 0.381018, y: 622.2269926397355 },
      ResultPath: '$.coords',
      ResultSelector: { 'a.$': '$.nope' },
    };
    const { output } = await stateOutput(pass, { georefOf: 'Home' }, 'ignored', testScope(), 'JSONPath');
    expect(output).toEqual({ georefOf: 'Home', coords: { x: 0.381018, y: 622.2269926397355 } });
  });

  it('Pass without Result passes its Parameters output (the result the engine gives it)', async () => {
    const { output } = await stateOutput(
      { Type: 'Pass', ResultPath: '$.p' },
      { a: 1 },
      { b: 2 },
      testScope(),
      'JSONPath',
    );
    expect(output).toEqual({ a: 1, p: { b: 2 } });
  });

  it('Wait and Succeed: OutputPath of the effective input', async () => {
    const state: AslState = { Type: 'Wait', Seconds: 1, InputPath: '$.a', OutputPath: '$.b' };
    expect((await stateOutput(state, { a: { b: 5 } }, undefined, testScope(), 'JSONPath')).output).toBe(5);
    expect(
      (await stateOutput({ Type: 'Succeed' }, { a: 1 }, undefined, testScope(), 'JSONPath')).output,
    ).toEqual({ a: 1 });
  });
});

describe('Assign (JSONPath)', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html
  it('Task: `$` is the raw result (ResultSelector is not applied to Assign); literals are kept', async () => {
    const state = task({
      Assign: {
        'total.$': '$.Payload.total',
        'exec.$': '$$.Execution.Id',
        'prev.$': '$count',
        static: 42,
        'sum.$': 'States.MathAdd($count, 1)',
      },
      ResultSelector: { 'only.$': '$.Payload.total' },
    });
    const { output, assign } = await stateOutput(
      state,
      { in: 1 },
      { Payload: { total: 9 } },
      testScope({ variables: { count: 4 } }),
      'JSONPath',
    );
    expect(output).toEqual({ only: 9 });
    expect(assign).toEqual({
      total: 9,
      exec: 'arn:aws:states:us-east-1:123456789012:execution:sm:run-1',
      prev: 4,
      static: 42,
      sum: 5,
    });
  });

  it('Pass: `$` is the Result', async () => {
    const { assign } = await stateOutput(
      { Type: 'Pass', Result: { n: 3 }, Assign: { 'n.$': '$.n' } },
      {},
      undefined,
      testScope(),
      'JSONPath',
    );
    expect(assign).toEqual({ n: 3 });
  });

  it('Wait: `$` is the effective input', async () => {
    const { assign } = await stateOutput(
      { Type: 'Wait', Seconds: 0, InputPath: '$.w', Assign: { 'v.$': '$.v' } },
      { w: { v: 'x' } },
      undefined,
      testScope(),
      'JSONPath',
    );
    expect(assign).toEqual({ v: 'x' });
  });

  it('a path that matches nothing is States.Runtime', async () => {
    expect(
      (await errorOf(stateOutput(task({ Assign: { 'x.$': '$.nope' } }), {}, {}, testScope(), 'JSONPath')))
        .name,
    ).toBe('States.Runtime');
  });
});

describe('Catch output', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
  const errorOutput = { Error: 'MyError', Cause: 'it broke' };
  it.each<[string, Record<string, unknown>, unknown]>([
    ['default: the error output', {}, errorOutput],
    ['ResultPath $.error merges it into the input', { ResultPath: '$.error' }, { in: 1, error: errorOutput }],
    ['ResultPath null keeps the input', { ResultPath: null }, { in: 1 }],
  ])('%s', async (_name, catcher, expected) => {
    expect(
      (await catchOutput({ ...catcher }, { in: 1 }, errorOutput, testScope(), 'JSONPath')).output,
    ).toEqual(expected);
  });
  it('JSONPath Assign sees the error output as `$`', async () => {
    const { assign } = await catchOutput(
      { Assign: { 'why.$': '$.Cause' } },
      {},
      errorOutput,
      testScope(),
      'JSONPath',
    );
    expect(assign).toEqual({ why: 'it broke' });
  });
  it('ResultPath into a non-object input is States.ResultPathMatchFailure', async () => {
    expect(
      (await errorOf(catchOutput({ ResultPath: '$.e' }, [1], errorOutput, testScope(), 'JSONPath'))).name,
    ).toBe('States.ResultPathMatchFailure');
  });
  it('JSONata: Output and Assign with $states.errorOutput and $states.input; default output the error output', async () => {
    const catcher = {
      Output: { failed: '{% $states.errorOutput.Error %}', was: '{% $states.input.in %}' },
      Assign: { last: '{% $states.errorOutput.Cause %}' },
    };
    expect(await catchOutput(catcher, { in: 1 }, errorOutput, testScope(), 'JSONata')).toEqual({
      output: { failed: 'MyError', was: 1 },
      assign: { last: 'it broke' },
    });
    expect((await catchOutput({}, { in: 1 }, errorOutput, testScope(), 'JSONata')).output).toEqual(
      errorOutput,
    );
  });
});

describe('Map item input', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemselector.html
  const effective = {
    detail: {
      shipped: [
        { prod: 'R31', cost: 9.99 },
        { prod: 'S39', cost: 7.99 },
      ],
    },
    delivery: { partner: 'Ex' },
  };
  const scopeFor = (index: number) =>
    testScope({ context: { Map: { Item: { Index: index, Value: effective.detail.shipped[index] } } } });
  it('ItemSelector with $$.Map.Item and the Map input', async () => {
    const state: AslState = {
      Type: 'Map',
      ItemSelector: {
        'ContextIndex.$': '$$.Map.Item.Index',
        'ContextValue.$': '$$.Map.Item.Value',
        'partner.$': '$.delivery.partner',
      },
    };
    expect(await mapItemInput(state, effective, scopeFor(1), 'JSONPath')).toEqual({
      ContextIndex: 1,
      ContextValue: { prod: 'S39', cost: 7.99 },
      partner: 'Ex',
    });
  });
  it('legacy Parameters act as ItemSelector', async () => {
    expect(
      await mapItemInput(
        { Type: 'Map', Parameters: { 'i.$': '$$.Map.Item.Index' } },
        effective,
        scopeFor(0),
        'JSONPath',
      ),
    ).toEqual({ i: 0 });
  });
  it('without a selector: the item itself', async () => {
    expect(await mapItemInput({ Type: 'Map' }, effective, scopeFor(0), 'JSONPath')).toEqual({
      prod: 'R31',
      cost: 9.99,
    });
  });
  it('JSONata ItemSelector', async () => {
    const state: AslState = {
      Type: 'Map',
      ItemSelector: {
        p: '{% $states.context.Map.Item.Value.prod %}',
        who: '{% $states.input.delivery.partner %}',
      },
    };
    expect(await mapItemInput(state, effective, scopeFor(1), 'JSONata')).toEqual({ p: 'S39', who: 'Ex' });
  });
  it('without Map.Item in the context: States.Runtime', async () => {
    expect((await errorOf(mapItemInput({ Type: 'Map' }, effective, testScope(), 'JSONPath'))).name).toBe(
      'States.Runtime',
    );
  });
});

describe('The whole JSONPath chain of one Task', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-example.html: InputPath selects what the
  // Lambda sees, ResultPath merges its result into the raw input (not the InputPath selection), OutputPath filters.
  it('InputPath → Parameters → result → ResultPath over the raw input → OutputPath', async () => {
    // Prepare
    const state = task({
      InputPath: '$.lambda',
      Parameters: { 'who.$': '$.who', 'execution.$': '$$.Execution.Id' },
      ResultPath: '$.data.lambdaresult',
      OutputPath: '$.data',
    });
    const raw = {
      comment: 'An input comment.',
      data: { val1: 23, val2: 17 },
      extra: 'foo',
      lambda: { who: 'AWS Step Functions' },
    };
    const scope = testScope();
    // Act
    const effective = await effectiveInput(state, raw, scope, 'JSONPath');
    const parameters = await taskParameters(state, effective, scope, 'JSONPath');
    const { output } = await stateOutput(state, raw, 'Hello, AWS Step Functions!', scope, 'JSONPath');
    // Assess
    expect(parameters).toEqual({
      who: 'AWS Step Functions',
      execution: 'arn:aws:states:us-east-1:123456789012:execution:sm:run-1',
    });
    expect(output).toEqual({ val1: 23, val2: 17, lambdaresult: 'Hello, AWS Step Functions!' });
  });
});
