import { describe, expect, it } from 'vitest';
import { SandboxCollectInputSchema } from '#shared/activities/sandbox-collect';
import { SANDBOX_CONTAINER } from '../../infra/constructs/sandbox-task.ts';
import { SANDBOX_CONTAINER_NAME } from '../../infra/local/engine/integrations/ecs-run-task.ts';
import { listWorkflowFiles } from '../../infra/workflows/files.ts';

interface State {
  Type: string;
  Resource?: string;
  Parameters?: { Overrides?: { ContainerOverrides?: { Name: string }[] } };
  ResultSelector?: Record<string, string>;
}

/** Every ecs:runTask state of the shipped workflows, by workflow and state name. */
const runTaskStates = listWorkflowFiles().flatMap((wf) =>
  Object.entries((JSON.parse(wf.text) as { States: Record<string, State> }).States)
    .filter(([, s]) => s.Type === 'Task' && s.Resource?.startsWith('arn:aws:states:::ecs:runTask'))
    .map(([name, state]) => [`${wf.name}/${name}`, state] as const),
);

describe('Contract: the sandbox task, the ASL and the local integration', () => {
  it('names the same container in the task definition, the local integration and every ContainerOverrides', () => {
    expect(SANDBOX_CONTAINER_NAME).toBe(SANDBOX_CONTAINER);
    expect(runTaskStates.map(([name]) => name)).toEqual(
      expect.arrayContaining(['code-execution/Run', 'agent-loop/RunCode']),
    );
    for (const [, state] of runTaskStates) {
      expect(state.Parameters?.Overrides?.ContainerOverrides?.map((o) => o.Name)).toEqual([
        SANDBOX_CONTAINER,
      ]);
    }
  });

  it('keeps, in each Run state, the task fields sandbox-collect charges by', () => {
    const charged = Object.keys(SandboxCollectInputSchema.shape.task.unwrap().shape).sort();
    for (const [name, state] of runTaskStates) {
      expect(
        Object.keys(state.ResultSelector ?? {})
          .map((k) => k.replace(/\.\$$/, ''))
          .sort(),
        name,
      ).toEqual(charged);
    }
  });
});
