import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { NotFoundError } from '../errors.ts';
import type { WorkflowEngine, WorkflowSummary } from '../ports/engine.ts';

/**
 * The engine port on AWS: each workflow is a Standard state machine; an execution's id is its Step
 * Functions execution name, so the Step Functions console shows the same id the API returns.
 * @example sfnEngine(new SFNClient({}), { 'agent-loop': 'arn:aws:states:…:stateMachine:wflo-agent-loop' })
 */
export function sfnEngine(
  client: SFNClient,
  stateMachines: Readonly<Record<string, string>>,
  descriptions: Readonly<Record<string, string>> = {},
): WorkflowEngine {
  const workflows: WorkflowSummary[] = Object.keys(stateMachines)
    .sort()
    .map((name) => ({ name, description: descriptions[name] ?? '' }));
  return {
    listWorkflows: async () => workflows,
    startExecution: async (workflow, executionId, input) => {
      const stateMachineArn = stateMachines[workflow];
      if (!stateMachineArn) throw new NotFoundError(`workflow '${workflow}' does not exist`);
      try {
        await client.send(
          new StartExecutionCommand({
            stateMachineArn,
            name: executionId,
            input: JSON.stringify(input ?? {}),
          }),
        );
      } catch (err) {
        // Same name and input while it runs: Step Functions returns the running execution; a name reused with
        // another input is refused. Our ids are fresh UUIDs, so an "already exists" means a retried start.
        if (err instanceof ExecutionAlreadyExists) return;
        throw err;
      }
    },
  };
}
