import { ArnFormat, type Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { WorkflowStateMachine } from '../constructs/workflow-state-machine.ts';

/**
 * Grants `actions` on the executions of the named state machines — the resource Step Functions scopes
 * execution actions to, `…:execution:<stateMachineName>:*`, since execution names are chosen at run time —
 * and acknowledges the matching cdk-nag IAM5 finding with `reason`.
 */
export function grantOnExecutions(
  stack: Stack,
  role: iam.IRole,
  stateMachineNames: readonly string[],
  actions: readonly string[],
  reason: string,
): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [...actions],
      resources: stateMachineNames.map((name) =>
        stack.formatArn({
          service: 'states',
          resource: 'execution',
          resourceName: `${name}:*`,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ),
    }),
  );
  for (const name of stateMachineNames) {
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${name}:*]`,
      reason,
    });
  }
}

/**
 * Grants KMS `actions` on the workflows' customer managed key, only for data of those state machines (the
 * encryption context Step Functions sets). Callers need them: StartExecution encrypts the input
 * (kms:GenerateDataKey, kms:Decrypt); DescribeExecution, GetExecutionHistory and StopExecution decrypt.
 */
export function grantExecutionData(
  role: iam.IRole,
  workflows: readonly WorkflowStateMachine[],
  actions: readonly ('kms:Decrypt' | 'kms:GenerateDataKey')[],
): void {
  const keys = new Set(workflows.map((wf) => wf.encryptionKey));
  for (const key of keys) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: [key.keyArn],
        conditions: {
          StringEquals: {
            'kms:EncryptionContext:aws:states:stateMachineArn': workflows
              .filter((wf) => wf.encryptionKey === key)
              .map((wf) => wf.stateMachine.stateMachineArn),
          },
        },
      }),
    );
  }
}
