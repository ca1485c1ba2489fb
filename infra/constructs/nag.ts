import { Stack, Validations } from 'aws-cdk-lib';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';

/**
 * Acknowledges the one finding of the stack's AwsCustomResource provider singleton (created by CDK when a stack
 * uses `AwsCustomResource`): its role carries AWSLambdaBasicExecutionRole. Call after the AwsCustomResource exists.
 */
export function acknowledgeAwsCustomResourceProvider(scope: Construct): void {
  const stack = Stack.of(scope);
  const id = `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`;
  const provider = stack.node.tryFindChild(id);
  if (!provider) throw new Error(`${stack.stackName}: no AwsCustomResource provider (${id}) to acknowledge`);
  Validations.of(provider).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason:
      "CDK's AwsCustomResource provider runs one read-only SDK lookup at deploy time; this AWS-managed policy only " +
      'lets it write its own logs, and CDK does not expose the singleton role for replacement.',
  });
}
