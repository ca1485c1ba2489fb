import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkflowFile } from '../../../infra/local/engine/workflows.ts';
import { type AslDefinition, reachableStates, walkStates } from '../../../infra/workflows/asl.ts';
import { checkWorkflow } from '../../../infra/workflows/check.ts';
import { listWorkflowFiles, readWorkflowFile, workflowNameOf } from '../../../infra/workflows/files.ts';
import { LAMBDA_SERVICE_ERRORS, LAMBDA_SERVICE_RETRY, lintWorkflow } from '../../../infra/workflows/lint.ts';

const FIXTURES = 'tests/fixtures/statemachines/house-rules';
const HELLO = 'statemachines/hello.asl.json';
const tmp = mkdtempSync(join(tmpdir(), 'wflo-workflows-'));
/** asl-validator compiles its schemas on first use: seconds on a busy machine. */
const VALIDATES = 60_000;
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Workflow file names: one rule for wflo dev and cdk synth', () => {
  it.each(['2fa-check', 'hello', 'a', 'x'.repeat(41)])('accepts %s', (name) => {
    expect(workflowNameOf(`/any/${name}.asl.json`)).toBe(name);
  });

  it.each(['-lead', 'Upper', 'under_score', 'x'.repeat(42), 'dot.ted'])(
    'refuses %s, naming the file and the rule',
    (name) => {
      expect(() => workflowNameOf(`/any/${name}.asl.json`)).toThrow(
        new RegExp(`/any/${name.replace('.', '\\.')}\\.asl\\.json: workflow names must be kebab-case`),
      );
    },
  );

  it(
    'lists and loads 2fa-check.asl.json on both paths (the CDK listing and the local loader)',
    () => {
      // Prepare
      const dir = mkdtempSync(join(tmp, 'names-'));
      copyFileSync(HELLO, join(dir, '2fa-check.asl.json'));
      writeFileSync(join(dir, 'README.md'), 'not a workflow');

      // Act
      const listed = listWorkflowFiles(dir);
      const local = loadWorkflowFile(join(dir, '2fa-check.asl.json'));

      // Assess
      expect(listed.map((f) => f.name)).toEqual(['2fa-check']);
      expect(checkWorkflow(listed[0]!).name).toBe('2fa-check');
      expect(local.name).toBe('2fa-check');
    },
    VALIDATES,
  );
});

describe('State walking', () => {
  const definition = JSON.parse(
    readFileSync(join(FIXTURES, 'nested-catch.asl.json'), 'utf8'),
  ) as AslDefinition;

  it('visits every state, inside Parallel branches and Map processors too', () => {
    const names: string[] = [];
    walkStates(definition, (name) => names.push(name));
    expect(names.sort()).toEqual(['Ask', 'Done', 'Each', 'Failed', 'Fan', 'RecordFailure']);
  });

  it('reaches the states a Catch leads to, and those inside nested definitions', () => {
    expect(reachableStates(definition)).toEqual(['Fan', 'Each', 'Ask', 'Done', 'RecordFailure', 'Failed']);
  });

  it('does not reach a state nothing leads to', () => {
    const orphaned: AslDefinition = {
      StartAt: 'A',
      States: { A: { Type: 'Pass', End: true }, Orphan: { Type: 'Pass', End: true } },
    };
    expect(reachableStates(orphaned)).toEqual(['A']);
  });
});

describe('House rules', () => {
  it('defines the standard Retry once, over the Lambda service errors', () => {
    expect(LAMBDA_SERVICE_RETRY.ErrorEquals).toEqual([...LAMBDA_SERVICE_ERRORS]);
    expect(LAMBDA_SERVICE_RETRY.MaxAttempts).toBeGreaterThan(0);
  });

  it.each(listWorkflowFiles().map((f) => [f.name, f] as const))('%s keeps them', (_, file) => {
    expect(lintWorkflow(JSON.parse(file.text) as AslDefinition)).toEqual([]);
  });

  it.each([
    ['missing-retry', [['Call', 'lambda-service-retry', /standard service-exception Retry/]]],
    ['partial-retry', [['Call', 'lambda-service-retry', /\(missing: Lambda\.SdkClientException\)$/]]],
    [
      'missing-context',
      [
        [
          'Call',
          'task-context',
          /Parameters\.Payload\.context exactly as TASK_CONTEXT_PARAMETERS.*\(it has none\)$/,
        ],
      ],
    ],
    [
      'whole-context',
      [
        ['Call', 'whole-context', /^Parameters\.Payload\.context\.\$ passes the whole context object/],
        ['Call', 'task-context', /\(it has none\)$/],
      ],
    ],
    [
      'nested-catch',
      [
        ['Ask', 'lambda-service-retry', /standard service-exception Retry/],
        ['RecordFailure', 'lambda-service-retry', /standard service-exception Retry/],
        ['RecordFailure', 'task-context', /\(it has none\)$/],
      ],
    ],
  ] as const)('%s.asl.json: each violation is found, by state and rule', (fixture, expected) => {
    // Prepare
    const definition = JSON.parse(
      readFileSync(join(FIXTURES, `${fixture}.asl.json`), 'utf8'),
    ) as AslDefinition;

    // Act
    const violations = lintWorkflow(definition);

    // Assess
    expect(violations.map((v) => [v.state, v.rule])).toEqual(expected.map(([state, rule]) => [state, rule]));
    for (const [i, v] of violations.entries()) expect(v.message).toMatch(expected[i]![2]);
  });

  it.each(['missing-retry', 'partial-retry', 'missing-context', 'whole-context', 'nested-catch'])(
    '%s.asl.json is refused by the shared check and by the local loader, naming the file and the state',
    (fixture) => {
      const path = join(FIXTURES, `${fixture}.asl.json`);
      const message = new RegExp(
        `${fixture}\\.asl\\.json: breaks the workflow house rules:\\n {2}state '\\w+': `,
      );
      expect(() => checkWorkflow(readWorkflowFile(path))).toThrow(message);
      expect(() => loadWorkflowFile(path)).toThrow(message);
    },
    VALIDATES,
  );
});
