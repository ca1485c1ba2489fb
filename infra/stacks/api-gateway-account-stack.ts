import { Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/** Name of the once-per-account-and-region stack; the same for every environment, so no environment owns it. */
export const API_GATEWAY_ACCOUNT_STACK = 'Wflo-ApiGatewayAccount';

/**
 * API Gateway's account-level CloudWatch Logs role (AWS::ApiGateway::Account): required before any stage can
 * write access or execution logs, and one setting per account and region. It lives in its own stack, deployed
 * once per account and region (`-c apiGatewayAccount=true`), so two wflo environments in one account never
 * overwrite it or delete it from under each other. Skip it where the account already has the role set
 * (`aws apigateway get-account` shows a cloudwatchRoleArn).
 */
export class ApiGatewayAccountStack extends Stack {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, props);
    this.role = new iam.Role(this, 'CloudWatchRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description:
        'API Gateway: writes access and execution logs of every REST API stage in this account and region',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    new apigw.CfnAccount(this, 'Account', { cloudWatchRoleArn: this.role.roleArn });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'API Gateway requires this account-level role to write stage logs (AwsSolutions-APIG1, APIG6); the AWS-managed ' +
        'policy is the documented one and grants only CloudWatch Logs writes, to API Gateway alone.',
    });
  }
}
