import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type AslDefinition, walkStates } from '../../infra/workflows/asl.ts';
import { listWorkflowFiles } from '../../infra/workflows/files.ts';
import { lintWorkflow } from '../../infra/workflows/lint.ts';

/** The shipped workflows and the engine fixtures; tests/fixtures/statemachines/house-rules/ break the rules on purpose. */
const files = [...listWorkflowFiles(), ...listWorkflowFiles('tests/fixtures/statemachines')];

describe('Task context in statemachines/*.asl.json', () => {
  it('finds the workflows to check', () => {
    expect(
      files.filter((f) => f.path.includes('/statemachines/') && !f.path.includes('fixtures')).length,
    ).toBeGreaterThanOrEqual(3);
  });

  it.each(files.map((f) => [f.path.replace(/^.*\/(statemachines|fixtures)\//, '$1/'), f] as const))(
    '%s: no Task passes $$ whole; every Lambda Task passes exactly TASK_CONTEXT_PARAMETERS and retries service errors',
    (_, file) => {
      // Prepare
      const definition = JSON.parse(readFileSync(file.path, 'utf8')) as AslDefinition;
      let lambdaTasks = 0;
      walkStates(definition, (_, s) => {
        if (s.Resource === 'arn:aws:states:::lambda:invoke') lambdaTasks++;
      });

      // Act
      const violations = lintWorkflow(definition);

      // Assess
      expect(lambdaTasks).toBeGreaterThan(0);
      expect(violations).toEqual([]);
    },
  );
});
