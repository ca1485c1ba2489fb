import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
  MIN_TIMEOUT_SECONDS,
} from '#shared/activities/sandbox-prepare';
import { ConfigError, ValidationError } from '#shared/errors';
import { LLM_PROVIDERS } from '#shared/llm/providers';
import { SANDBOX_LANGUAGES } from '#shared/ports/sandbox';
import {
  checkWorkflowInput,
  type InputSchema,
  inputSchemaFileOf,
  MAX_AGENT_ITERATIONS,
  MAX_INPUT_DEPTH,
  nestedDeeperThan,
  readInputSchema,
  readInputSchemas,
} from '#shared/workflow-inputs';

const STATEMACHINES = join(import.meta.dirname, '../../../statemachines');
const schemas = readInputSchemas(STATEMACHINES);
const agentLoop = schemas['agent-loop'] as InputSchema;

/** The issues a refused input reports (fails the test when the input is accepted). */
function issuesOf(workflow: string, input: unknown, schema: InputSchema | null): readonly string[] {
  try {
    checkWorkflowInput(workflow, input, schema);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

/** `[[[…]]]` nested `depth` levels. */
function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe('workflow input schemas (statemachines/<name>.input.json)', () => {
  it('every workflow file declares its input', () => {
    // Prepare
    const workflows = readdirSync(STATEMACHINES).filter((f) => f.endsWith('.asl.json'));

    // Assess
    expect(workflows.length).toBeGreaterThan(0);
    for (const file of workflows) {
      expect(readInputSchema(inputSchemaFileOf(join(STATEMACHINES, file))), file).not.toBeNull();
    }
  });

  it('state the same bounds as the code that enforces them', () => {
    // Prepare
    const props = (name: string) =>
      (schemas[name] as { properties: Record<string, Record<string, unknown>> }).properties;

    // Assess
    expect(props('agent-loop').maxIterations).toMatchObject({ minimum: 1, maximum: MAX_AGENT_ITERATIONS });
    expect(
      [
        ...(props('agent-loop').model as { properties: { provider: { enum: string[] } } }).properties.provider
          .enum,
      ].sort(),
    ).toEqual([...LLM_PROVIDERS].sort());
    expect([...(props('code-execution').language!.enum as string[])].sort()).toEqual(
      [...SANDBOX_LANGUAGES].sort(),
    );
    expect(props('code-execution').timeoutSeconds).toMatchObject({
      minimum: MIN_TIMEOUT_SECONDS,
      maximum: MAX_TIMEOUT_SECONDS,
      default: DEFAULT_TIMEOUT_SECONDS,
    });
  });
});

describe('checkWorkflowInput', () => {
  it('refuses an agent-loop input without a goal, naming input.goal', () => {
    expect(issuesOf('agent-loop', { maxIterations: 3 }, agentLoop)).toEqual([
      expect.stringMatching(/^input\.goal: /),
    ]);
  });

  it.each([0, -1, 2.5, MAX_AGENT_ITERATIONS + 1, '5', null])(
    'refuses agent-loop maxIterations %j naming input.maxIterations',
    (value) => {
      expect(issuesOf('agent-loop', { goal: 'g', maxIterations: value }, agentLoop)).toEqual([
        expect.stringMatching(/^input\.maxIterations: /),
      ]);
    },
  );

  it('names a mistyped nested field by its path', () => {
    expect(issuesOf('agent-loop', { goal: 'g', model: { provider: 'nope' } }, agentLoop)).toEqual([
      expect.stringMatching(/^input\.model\.provider: /),
    ]);
  });

  it('accepts valid inputs, and any object for a workflow without a schema', () => {
    expect(() => checkWorkflowInput('agent-loop', { goal: 'g' }, agentLoop)).not.toThrow();
    expect(() =>
      checkWorkflowInput(
        'agent-loop',
        { goal: 'g', maxIterations: MAX_AGENT_ITERATIONS, extra: 1 },
        agentLoop,
      ),
    ).not.toThrow();
    expect(() => checkWorkflowInput('custom', { anything: [1, { two: 2 }] }, null)).not.toThrow();
  });

  it(`refuses input nested deeper than ${MAX_INPUT_DEPTH} levels, schema or not, naming the limit`, () => {
    // Prepare: the shape that hung the local interpreter (thousands of levels in a few KB)
    const deep = { goal: 'g', payload: nested(4_000) };

    // Act
    const issues = issuesOf('custom', deep, null);

    // Assess
    expect(issues[0]).toMatch(new RegExp(`^input: .*${MAX_INPUT_DEPTH}`));
    expect(() => checkWorkflowInput('custom', { payload: nested(MAX_INPUT_DEPTH - 1) }, null)).not.toThrow();
  });
});

describe('nestedDeeperThan', () => {
  it('counts objects and arrays, not scalars, and does not recurse', () => {
    expect(nestedDeeperThan('x', 0)).toBe(false);
    expect(nestedDeeperThan({}, 0)).toBe(true);
    expect(nestedDeeperThan({ a: [{}] }, 3)).toBe(false);
    expect(nestedDeeperThan({ a: [{}] }, 2)).toBe(true);
    expect(nestedDeeperThan(nested(100_000), MAX_INPUT_DEPTH)).toBe(true);
  });
});

describe('readInputSchema', () => {
  it('fails naming the file when it is not JSON or not an object', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'wflo-inputs-'));
    writeFileSync(join(dir, 'broken.input.json'), '{ "type": ');
    writeFileSync(join(dir, 'list.input.json'), '[]');

    // Act + Assess
    expect(() => readInputSchema(join(dir, 'broken.input.json'))).toThrow(ConfigError);
    expect(() => readInputSchema(join(dir, 'broken.input.json'))).toThrow(/broken\.input\.json/);
    expect(() => readInputSchema(join(dir, 'list.input.json'))).toThrow(/must be a JSON object/);
    expect(readInputSchema(join(dir, 'absent.input.json'))).toBeNull();
  });
});
