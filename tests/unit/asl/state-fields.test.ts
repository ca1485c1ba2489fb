import { describe, expect, it } from 'vitest';
import {
  failInfo,
  mapItemInput,
  mapItems,
  mapLimits,
  taskTimeouts,
  waitUntilMs,
} from '../../../infra/local/engine/asl/data-flow.ts';
import type { AslState } from '../../../infra/local/engine/workflows.ts';
import { asl, errorOf, testScope } from './scope.ts';

const NOW = Date.UTC(2024, 0, 1);

describe('Wait', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html
  const input = { expirydate: '2016-03-14T01:59:00Z', expiryseconds: 10, bad: -1, text: 'soon' };
  it.each<[string, AslState, 'JSONPath' | 'JSONata', number]>([
    ['Seconds', { Type: 'Wait', Seconds: 10 }, 'JSONPath', NOW + 10_000],
    ['Seconds 0', { Type: 'Wait', Seconds: 0 }, 'JSONPath', NOW],
    ['SecondsPath', { Type: 'Wait', SecondsPath: '$.expiryseconds' }, 'JSONPath', NOW + 10_000],
    [
      'Timestamp',
      { Type: 'Wait', Timestamp: '2016-03-14T01:59:00Z' },
      'JSONPath',
      Date.UTC(2016, 2, 14, 1, 59),
    ],
    [
      'Timestamp with an offset and fraction',
      { Type: 'Wait', Timestamp: '2016-03-14T03:59:00.250+02:00' },
      'JSONPath',
      Date.UTC(2016, 2, 14, 1, 59, 0, 250),
    ],
    [
      'TimestampPath',
      { Type: 'Wait', TimestampPath: '$.expirydate' },
      'JSONPath',
      Date.UTC(2016, 2, 14, 1, 59),
    ],
    [
      'JSONata Seconds',
      { Type: 'Wait', Seconds: '{% $states.input.expiryseconds * 2 %}' },
      'JSONata',
      NOW + 20_000,
    ],
    [
      'JSONata Timestamp',
      { Type: 'Wait', Timestamp: '{% $states.input.expirydate %}' },
      'JSONata',
      Date.UTC(2016, 2, 14, 1, 59),
    ],
    ['JSONata literal Seconds', { Type: 'Wait', Seconds: 3 }, 'JSONata', NOW + 3000],
  ])('%s', async (_name, state, ql, expected) => {
    expect(await waitUntilMs(state, input, testScope({ nowMs: NOW }), ql)).toBe(expected);
  });
  it.each<[string, AslState, string]>([
    ['negative SecondsPath', { Type: 'Wait', SecondsPath: '$.bad' }, 'SecondsPath'],
    ['SecondsPath to a string', { Type: 'Wait', SecondsPath: '$.text' }, 'SecondsPath'],
    ['fractional Seconds', { Type: 'Wait', Seconds: 1.5 }, 'Seconds'],
    ['SecondsPath that matches nothing', { Type: 'Wait', SecondsPath: '$.nope' }, 'SecondsPath'],
    ['TimestampPath to a non-timestamp', { Type: 'Wait', TimestampPath: '$.text' }, 'TimestampPath'],
    ['a lowercase t timestamp', { Type: 'Wait', Timestamp: '2016-03-14t01:59:00Z' }, 'Timestamp'],
    ['an impossible date', { Type: 'Wait', Timestamp: '2016-02-30T01:59:00Z' }, 'Timestamp'],
    ['no field', { Type: 'Wait' }, 'Wait'],
  ])('%s is States.Runtime naming %s', async (_name, state, field) => {
    const error = await errorOf(waitUntilMs(state, input, testScope(), 'JSONPath'));
    expect(error.name).toBe('States.Runtime');
    expect(error.message).toContain(field);
  });
});

describe('Fail', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-fail.html
  const input = { error: 'ErrorA', cause: 'Something', n: 1, items: ['a', 'b'] };
  it.each<[string, AslState, 'JSONPath' | 'JSONata', { error: string; cause: string }]>([
    [
      'literals',
      { Type: 'Fail', Error: 'ErrorA', Cause: 'Kaiju attack' },
      'JSONPath',
      { error: 'ErrorA', cause: 'Kaiju attack' },
    ],
    ['absent fields are empty', { Type: 'Fail' }, 'JSONPath', { error: '', cause: '' }],
    [
      'ErrorPath and CausePath',
      { Type: 'Fail', ErrorPath: '$.error', CausePath: '$.cause' },
      'JSONPath',
      { error: 'ErrorA', cause: 'Something' },
    ],
    [
      'intrinsics in the Path forms',
      {
        Type: 'Fail',
        ErrorPath: "States.Format('{}.{}', $.error, $$.State.Name)",
        CausePath: 'States.JsonToString($.items)',
      },
      'JSONPath',
      { error: 'ErrorA.S', cause: '["a","b"]' },
    ],
    [
      'JSONata',
      { Type: 'Fail', Error: '{% $states.input.error %}', Cause: '{% "n=" & $states.input.n %}' },
      'JSONata',
      { error: 'ErrorA', cause: 'n=1' },
    ],
  ])('%s', async (_name, state, ql, expected) => {
    expect(await failInfo(state, input, testScope(), ql)).toEqual(expected);
  });
  it('a Path to a non-string is States.Runtime', async () => {
    expect(
      (await errorOf(failInfo({ Type: 'Fail', CausePath: '$.n' }, input, testScope(), 'JSONPath'))).name,
    ).toBe('States.Runtime');
  });
  it('a Path that matches nothing is States.Runtime', async () => {
    expect(
      (await errorOf(failInfo({ Type: 'Fail', ErrorPath: '$.nope' }, input, testScope(), 'JSONPath'))).name,
    ).toBe('States.Runtime');
  });
});

describe('Task timeouts', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html (TimeoutSecondsPath, HeartbeatSecondsPath)
  const input = { timeout: 1, heartbeat: 2, zero: 0, text: '5', frac: 1.5 };
  it.each<[string, Record<string, unknown>, 'JSONPath' | 'JSONata', object]>([
    ['absent', {}, 'JSONPath', {}],
    [
      'literals',
      { TimeoutSeconds: 300, HeartbeatSeconds: 60 },
      'JSONPath',
      { timeoutSeconds: 300, heartbeatSeconds: 60 },
    ],
    [
      'paths (issue 16: TimeoutSecondsPath "$.timeout" with input {"timeout": 1})',
      { TimeoutSecondsPath: '$.timeout', HeartbeatSecondsPath: '$.heartbeat' },
      'JSONPath',
      { timeoutSeconds: 1, heartbeatSeconds: 2 },
    ],
    [
      'JSONata',
      { TimeoutSeconds: '{% $states.input.timeout + 9 %}', HeartbeatSeconds: 5 },
      'JSONata',
      { timeoutSeconds: 10, heartbeatSeconds: 5 },
    ],
  ])('%s', async (_name, fields, ql, expected) => {
    expect(await taskTimeouts(asl({ Type: 'Task', ...fields }), input, testScope(), ql)).toEqual(expected);
  });
  it.each<[string, Partial<AslState>, string]>([
    ['zero', { TimeoutSecondsPath: '$.zero' }, 'TimeoutSecondsPath'],
    ['a string', { TimeoutSecondsPath: '$.text' }, 'TimeoutSecondsPath'],
    ['a fraction', { HeartbeatSecondsPath: '$.frac' }, 'HeartbeatSecondsPath'],
    ['a path that matches nothing', { TimeoutSecondsPath: '$.nope' }, 'TimeoutSecondsPath'],
    ['a negative literal', { HeartbeatSeconds: -1 }, 'HeartbeatSeconds'],
  ])('%s is States.Runtime naming %s', async (_name, fields, field) => {
    const error = await errorOf(taskTimeouts({ Type: 'Task', ...fields }, input, testScope(), 'JSONPath'));
    expect(error.name).toBe('States.Runtime');
    expect(error.message).toContain(field);
  });
});

describe('Map limits', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/state-map.html and
  // https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
  const input = { c: 3, p: 12.5, n: 2, neg: -1, big: 101 };
  it.each<[string, Partial<AslState>, 'JSONPath' | 'JSONata', object]>([
    [
      'defaults',
      {},
      'JSONPath',
      { maxConcurrency: 0, toleratedFailurePercentage: 0, toleratedFailureCount: 0 },
    ],
    [
      'literals',
      { MaxConcurrency: 5, ToleratedFailurePercentage: 50, ToleratedFailureCount: 4 },
      'JSONPath',
      { maxConcurrency: 5, toleratedFailurePercentage: 50, toleratedFailureCount: 4 },
    ],
    [
      'paths',
      { MaxConcurrencyPath: '$.c', ToleratedFailurePercentagePath: '$.p', ToleratedFailureCountPath: '$.n' },
      'JSONPath',
      { maxConcurrency: 3, toleratedFailurePercentage: 12.5, toleratedFailureCount: 2 },
    ],
    [
      'JSONata',
      {
        MaxConcurrency: '{% $states.input.c %}',
        ToleratedFailurePercentage: '{% $states.input.p * 2 %}',
        ToleratedFailureCount: 1,
      },
      'JSONata',
      { maxConcurrency: 3, toleratedFailurePercentage: 25, toleratedFailureCount: 1 },
    ],
  ])('%s', async (_name, fields, ql, expected) => {
    expect(await mapLimits({ Type: 'Map', ...fields }, input, testScope(), ql)).toEqual(expected);
  });
  it.each<[string, Partial<AslState>]>([
    ['negative MaxConcurrencyPath', { MaxConcurrencyPath: '$.neg' }],
    ['percentage over 100', { ToleratedFailurePercentagePath: '$.big' }],
    ['fractional count', { ToleratedFailureCount: 1.5 }],
  ])('%s is States.Runtime', async (_name, fields) => {
    expect((await errorOf(mapLimits({ Type: 'Map', ...fields }, input, testScope(), 'JSONPath'))).name).toBe(
      'States.Runtime',
    );
  });
});

describe('Map items and ItemBatcher', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemspath.html and
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html
  const input = { detail: { shipped: [1, 2, 3, 4, 5] }, factor: 2, notArray: { a: 1 } };
  it.each<[string, Partial<AslState>, 'JSONPath' | 'JSONata', unknown, unknown[]]>([
    ['default ItemsPath is $', {}, 'JSONPath', [9, 8], [9, 8]],
    ['ItemsPath', { ItemsPath: '$.detail.shipped' }, 'JSONPath', input, [1, 2, 3, 4, 5]],
    ['ItemsPath to a variable', { ItemsPath: '$list' }, 'JSONPath', input, ['v']],
    [
      'JSONata Items expression',
      { Items: '{% $states.input.detail.shipped[$ > 3] %}' },
      'JSONata',
      input,
      [4, 5],
    ],
    ['JSONata Items literal array', { Items: [1, '{% $states.input.factor %}'] }, 'JSONata', input, [1, 2]],
    ['JSONata default: the input', {}, 'JSONata', [1], [1]],
    [
      'MaxItemsPerBatch',
      { ItemsPath: '$.detail.shipped', ItemBatcher: { MaxItemsPerBatch: 2 } },
      'JSONPath',
      input,
      [{ Items: [1, 2] }, { Items: [3, 4] }, { Items: [5] }],
    ],
    [
      'MaxItemsPerBatchPath and BatchInput',
      {
        ItemsPath: '$.detail.shipped',
        ItemBatcher: { MaxItemsPerBatchPath: '$.factor', BatchInput: { 'factor.$': '$.factor', fixed: 'x' } },
      },
      'JSONPath',
      { ...input, detail: { shipped: [1, 2, 3] } },
      [
        { BatchInput: { factor: 2, fixed: 'x' }, Items: [1, 2] },
        { BatchInput: { factor: 2, fixed: 'x' }, Items: [3] },
      ],
    ],
    [
      // {"Items":["aaaa","bbbb"]} is 25 bytes, {"Items":["aaaa","bbbb","cccc"]} 32.
      'MaxInputBytesPerBatch',
      { ItemBatcher: { MaxInputBytesPerBatch: 25 } },
      'JSONPath',
      ['aaaa', 'bbbb', 'cccc'],
      [{ Items: ['aaaa', 'bbbb'] }, { Items: ['cccc'] }],
    ],
    [
      'JSONata ItemBatcher',
      {
        Items: '{% $states.input.detail.shipped %}',
        ItemBatcher: {
          MaxItemsPerBatch: '{% $states.input.factor + 1 %}',
          BatchInput: { f: '{% $states.input.factor %}' },
        },
      },
      'JSONata',
      input,
      [
        { BatchInput: { f: 2 }, Items: [1, 2, 3] },
        { BatchInput: { f: 2 }, Items: [4, 5] },
      ],
    ],
  ])('%s', async (_name, fields, ql, effective, expected) => {
    expect(
      await mapItems({ Type: 'Map', ...fields }, effective, testScope({ variables: { list: ['v'] } }), ql),
    ).toEqual(expected);
  });
  it('ItemSelector runs on each item, with its own $$.Map.Item, before batching; mapItemInput passes the batch on', async () => {
    // https://states-language.net/spec.html (Map State: "batch selected items")
    const state: AslState = {
      Type: 'Map',
      ItemsPath: '$.detail.shipped',
      ItemSelector: { 'v.$': '$$.Map.Item.Value', 'i.$': '$$.Map.Item.Index', 'f.$': '$.factor' },
      ItemBatcher: { MaxItemsPerBatch: 2 },
    };
    const effective = { detail: { shipped: ['a', 'b', 'c'] }, factor: 2 };
    const batches = await mapItems(state, effective, testScope(), 'JSONPath');
    expect(batches).toEqual([
      {
        Items: [
          { v: 'a', i: 0, f: 2 },
          { v: 'b', i: 1, f: 2 },
        ],
      },
      { Items: [{ v: 'c', i: 2, f: 2 }] },
    ]);
    const iterationScope = testScope({ context: { Map: { Item: { Index: 1, Value: batches[1] } } } });
    expect(await mapItemInput(state, effective, iterationScope, 'JSONPath')).toEqual(batches[1]);
  });

  it.each<[string, Partial<AslState>, 'JSONPath' | 'JSONata', unknown]>([
    ['ItemsPath to an object', { ItemsPath: '$.notArray' }, 'JSONPath', input],
    ['ItemsPath that matches nothing', { ItemsPath: '$.nope' }, 'JSONPath', input],
    [
      'an item larger than MaxInputBytesPerBatch',
      { ItemBatcher: { MaxInputBytesPerBatch: 10 } },
      'JSONPath',
      ['a long item'],
    ],
    ['MaxItemsPerBatch 0', { ItemBatcher: { MaxItemsPerBatch: 0 } }, 'JSONPath', [1]],
  ])('%s is States.Runtime', async (_name, fields, ql, effective) => {
    expect((await errorOf(mapItems({ Type: 'Map', ...fields }, effective, testScope(), ql))).name).toBe(
      'States.Runtime',
    );
  });

  it('JSONata Items not an array is States.QueryEvaluationError, as Step Functions reports it', async () => {
    expect(
      (
        await errorOf(
          mapItems({ Type: 'Map', Items: '{% $states.input.notArray %}' }, input, testScope(), 'JSONata'),
        )
      ).name,
    ).toBe('States.QueryEvaluationError');
  });
});
