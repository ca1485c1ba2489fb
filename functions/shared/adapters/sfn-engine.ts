import {
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  RedriveExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ConflictError, NotFoundError } from '../errors.ts';
import { executionArnOf } from '../execution-names.ts';
import type { WorkflowEngine, WorkflowSummary } from '../ports/engine.ts';
import type { InputSchema } from '../workflow-inputs.ts';

/** The console's host for an ARN partition (the China and GovCloud partitions have their own consoles). */
const CONSOLE_HOSTS: Readonly<Record<string, string>> = {
  aws: 'console.aws.amazon.com',
  'aws-cn': 'console.amazonaws.cn',
  'aws-us-gov': 'console.amazonaws-us-gov.com',
};

/**
 * The Step Functions console page of an execution of `stateMachineArn` named `executionName`, or null when
 * the ARN is not a state machine ARN of a partition with a known console.
 * @example consoleUrlOf('arn:aws:states:eu-west-1:1:stateMachine:wflo-dev-hello', 'hello-none-0a1b2c3d4e5f')
 * // 'https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:1:execution:wflo-dev-hello:hello-none-0a1b2c3d4e5f'
 */
export function consoleUrlOf(stateMachineArn: string, executionName: string): string | null {
  const [arn, partition, service, region, , type, name] = stateMachineArn.split(':');
  const host = CONSOLE_HOSTS[partition ?? ''];
  if (arn !== 'arn' || service !== 'states' || type !== 'stateMachine' || !host || !region || !name)
    return null;
  const executionArn = executionArnOf(stateMachineArn, executionName);
  return `https://${region}.${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * The engine port on AWS: each workflow is a Standard state machine; an execution's id is its Step
 * Functions execution name, so the Step Functions console shows the same id the API returns.
 * @example sfnEngine(new SFNClient({}), { 'agent-loop': 'arn:aws:states:…:stateMachine:wflo-agent-loop' })
 */
export function sfnEngine(
  client: SFNClient,
  stateMachines: Readonly<Record<string, string>>,
  descriptions: Readonly<Record<string, string>> = {},
  inputSchemas: Readonly<Record<string, InputSchema>> = {},
): WorkflowEngine {
  const workflows: WorkflowSummary[] = Object.keys(stateMachines)
    .sort()
    .map((name) => ({
      name,
      description: descriptions[name] ?? '',
      inputSchema: inputSchemas[name] ?? null,
    }));
  return {
    listWorkflows: async () => workflows,
    stopExecution: async (workflow, executionId, cause) => {
      const stateMachineArn = stateMachines[workflow];
      if (!stateMachineArn) throw new NotFoundError(`workflow '${workflow}' does not exist`);
      try {
        await client.send(
          new StopExecutionCommand({
            executionArn: executionArnOf(stateMachineArn, executionId),
            error: 'wflo.Cancelled',
            cause,
          }),
        );
      } catch (err) {
        // Never started (e.g. a start that failed after the row was written) or already purged.
        if (!(err instanceof ExecutionDoesNotExist)) throw err;
      }
    },
    redriveExecution: async (workflow, executionId) => {
      const stateMachineArn = stateMachines[workflow];
      if (!stateMachineArn) throw new NotFoundError(`workflow '${workflow}' does not exist`);
      try {
        await client.send(
          new RedriveExecutionCommand({
            executionArn: executionArnOf(stateMachineArn, executionId),
            clientToken: `${executionId}-redrive`.slice(0, 64),
          }),
        );
      } catch (err) {
        // Step Functions redrives within 14 days of the end, and not an execution that succeeded.
        if (err instanceof ExecutionNotRedrivable || err instanceof ExecutionDoesNotExist) {
          throw new ConflictError(`execution '${executionId}' cannot be redriven: ${err.message}`);
        }
        throw err;
      }
    },
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
        // another input is refused. Names carry a random id, or a hash of the idempotency key whose input the
        // store already held equal, so an "already exists" means a retried start.
        if (err instanceof ExecutionAlreadyExists) return;
        throw err;
      }
    },
    consoleUrl: (workflow, executionId) => {
      const stateMachineArn = stateMachines[workflow];
      return stateMachineArn ? consoleUrlOf(stateMachineArn, executionId) : null;
    },
  };
}
