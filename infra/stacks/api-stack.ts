import { type CfnElement, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ENV } from '../../functions/shared/contracts/env.ts';
import { inputSchemaFileOf, readInputSchema } from '../../functions/shared/workflow-inputs.ts';
import { dataRemovalPolicy } from '../constructs/names.ts';
import { WfloFunction } from '../constructs/wflo-function.ts';
import type { WorkflowStateMachine } from '../constructs/workflow-state-machine.ts';
import type { WfloContext } from './context.ts';
import type { DataStack } from './data-stack.ts';
import { grantExecutionData, grantOnExecutions } from './execution-grants.ts';
import { llmEnvironment } from './orchestration-stack.ts';

/** How long one SSE response may stream: API Gateway's limit for a streamed response (a client then resumes). */
export const STREAM_TIMEOUT_SECONDS = 900;

/** The API stage name (part of every URL). */
export const API_STAGE = 'v1';

/**
 * What a caller (a person or service running workflows: `wflo --api-url`, tests/deployed) invokes, as
 * `execute-api` method/path pairs: list workflows, start one, list executions, and read one execution with
 * its steps, costs and events, and cancel one, and follow a workflow's runs live (`GET /stream?workflow=`). `*` in
 * an execute-api resource matches across `/`, so `/executions/*` covers `/executions/{id}` and everything under it,
 * and nothing else.
 */
export const CALLER_ROUTES: readonly (readonly [method: string, path: string])[] = [
  ['GET', '/stream'],
  ['GET', '/workflows'],
  ['POST', '/workflows/*/executions'],
  ['GET', '/executions'],
  ['GET', '/executions/*'],
  ['POST', '/executions/*/cancel'],
];

export interface ApiStackProps extends StackProps {
  readonly prefix: string;
  readonly context: WfloContext;
  readonly data: DataStack;
  /** The deployed workflows by name. */
  readonly workflows: ReadonlyMap<string, WorkflowStateMachine>;
  readonly logRetention: logs.RetentionDays;
  /** The API Lambda entry. @default 'functions/api/handler.ts' */
  readonly entry?: string;
}

/**
 * JSON schema (draft 4, what API Gateway models use) of `POST /workflows/{name}/executions`, mirroring
 * StartExecutionBodySchema in functions/api/schemas.ts (the app validates again and owns the details).
 */
export const START_EXECUTION_SCHEMA: apigw.JsonSchema = {
  schema: apigw.JsonSchemaVersion.DRAFT4,
  title: 'StartExecutionRequest',
  type: apigw.JsonSchemaType.OBJECT,
  additionalProperties: false,
  properties: {
    input: { type: apigw.JsonSchemaType.OBJECT },
    budgetUsd: { type: apigw.JsonSchemaType.NUMBER, minimum: 0, maximum: 1_000_000 },
    idempotencyKey: { type: apigw.JsonSchemaType.STRING, pattern: '^[A-Za-z0-9_-]{1,64}$' },
  },
};

/** API Gateway's own 400s answer in the API's problem format (functions/api/schemas.ts ProblemSchema). */
const PROBLEM_TEMPLATE =
  '{"type":"about:blank","title":"Bad Request","status":400,"detail":$context.error.validationErrorString}';

/**
 * The REST API in front of the same API app that runs locally (functions/api/handler.ts, Hono): IAM (SigV4)
 * authorization on every method by default, or a Cognito user pool; request validation; JSON access logs;
 * stage throttling; X-Ray. The API function starts executions with StartExecution on the named state machine.
 */
export class ApiStack extends Stack {
  readonly api: apigw.RestApi;
  readonly handler: WfloFunction;
  /** The response-streaming function behind `GET /executions/{id}/stream` and `GET /stream?workflow=` (SSE). */
  readonly streamHandler: WfloFunction;
  readonly accessLogs: logs.LogGroup;
  /** Attach to the roles, users or groups that run workflows through this API (see DEPLOYMENT.md). */
  readonly callerPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { context: ctx, data } = props;
    const removal = dataRemovalPolicy(ctx.retainData);

    const stateMachineArns = Object.fromEntries(
      [...props.workflows].map(([name, wf]) => [name, wf.stateMachine.stateMachineArn]),
    );
    this.handler = new WfloFunction(this, 'Handler', {
      entry: props.entry ?? 'functions/api/handler.ts',
      description: 'wflo API (Hono): workflows, executions, approvals',
      functionName: `${props.prefix}-api`,
      memoryMb: 512,
      timeoutSeconds: 29,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: {
        ...llmEnvironment(ctx),
        [ENV.WORKFLOW_STATE_MACHINES]: this.toJsonString(stateMachineArns),
      },
      // Each workflow's input schema ships next to the bundle (workflows/<name>.input.json): the API checks
      // inputs against it before StartExecution and lists it with GET /workflows.
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: (_inputDir: string, outputDir: string) => [
          `mkdir -p "${outputDir}/workflows"`,
          ...[...props.workflows.values()]
            .map((wf) => inputSchemaFileOf(wf.workflowFile))
            // Checked here (a broken schema fails synth, naming the file): the Lambda only parses them.
            .filter((file) => readInputSchema(file) !== null)
            .map((file) => `cp "${file}" "${outputDir}/workflows/"`),
        ],
      },
    });
    data.bindStore(this.handler);
    // GET /executions/{id}/stream and GET /stream?workflow= (SSE) stream through API Gateway's STREAM mode, which
    // invokes the function with InvokeWithResponseStream for up to 15 minutes; the buffered API function keeps its
    // 29 s. The stream routes read the store, and the workflows' names (WORKFLOW_STATE_MACHINES: an unknown one
    // is a 404).
    this.streamHandler = new WfloFunction(this, 'StreamHandler', {
      entry: 'functions/api/stream-handler.ts',
      description: 'wflo API, streaming routes: live events of a run or of a workflow (Server-Sent Events)',
      functionName: `${props.prefix}-api-stream`,
      memoryMb: 256,
      timeoutSeconds: STREAM_TIMEOUT_SECONDS,
      logRetention: props.logRetention,
      logRemovalPolicy: removal,
      environment: {
        ...llmEnvironment(ctx),
        [ENV.WORKFLOW_STATE_MACHINES]: this.toJsonString(stateMachineArns),
      },
    });
    data.bindStore(this.streamHandler);
    // GET /approvals, POST /approvals/{id}/decision: the records in DynamoDB (the audit copy through the store).
    data.bindApprovals(this.handler, 'decide');

    const stateMachineResources = [...props.workflows.values()].map((wf) => wf.stateMachine.stateMachineArn);
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: stateMachineResources }),
    );
    // POST /approvals/{id}/decision and POST /task-tokens/… resume (or keep alive) the waiting task of one of
    // these state machines.
    this.handler.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: stateMachineResources,
      }),
    );
    // POST /executions/{id}/cancel and /redrive: StopExecution and RedriveExecution on the executions of these
    // state machines only.
    grantOnExecutions(
      this,
      this.handler.role,
      [...props.workflows.keys()].map((name) => `${props.prefix}-${name}`),
      ['states:StopExecution', 'states:RedriveExecution'],
      'Execution names are chosen at run time (the execution id); the API may stop and redrive only executions ' +
        'of the deployed wflo state machines (POST /executions/{id}/cancel, /redrive).',
    );
    // StartExecution encrypts the input with the workflows' key, as the caller.
    grantExecutionData(
      this.handler.role,
      [...props.workflows.values()],
      ['kms:Decrypt', 'kms:GenerateDataKey'],
    );
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: removal,
    });

    const authorizer =
      ctx.apiAuth === 'cognito' && ctx.cognitoUserPoolArn
        ? new apigw.CognitoUserPoolsAuthorizer(this, 'Authorizer', {
            cognitoUserPools: [cognito.UserPool.fromUserPoolArn(this, 'UserPool', ctx.cognitoUserPoolArn)],
          })
        : undefined;

    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: `${props.prefix}-api`,
      description: 'wflo: start and inspect durable AI-agent workflows',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // The CloudWatch Logs role of API Gateway is one setting per account and region (AWS::ApiGateway::Account):
      // an environment that owned it would overwrite, and on deletion remove, every other environment's. It comes
      // from the Wflo-ApiGatewayAccount stack (-c apiGatewayAccount=true) or the account's existing setting.
      cloudWatchRole: false,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new apigw.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: ctx.apiThrottleRatePerSecond,
        throttlingBurstLimit: ctx.apiThrottleBurst,
      },
      defaultMethodOptions: authorizer
        ? { authorizationType: apigw.AuthorizationType.COGNITO, authorizer }
        : { authorizationType: apigw.AuthorizationType.IAM },
    });

    const integration = new apigw.LambdaIntegration(this.handler.function, {
      proxy: true,
      allowTestInvoke: false,
    });
    const paramsValidator = this.api.addRequestValidator('ParamsValidator', {
      requestValidatorName: 'parameters',
      validateRequestParameters: true,
    });
    const bodyValidator = this.api.addRequestValidator('BodyValidator', {
      requestValidatorName: 'body-and-parameters',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const startModel = this.api.addModel('StartExecutionModel', {
      contentType: 'application/json',
      modelName: 'StartExecution',
      schema: START_EXECUTION_SCHEMA,
    });

    // Everything goes to the one app; the start route is explicit so API Gateway validates its body first.
    const proxy = this.api.root.addResource('{proxy+}');
    proxy.addMethod('ANY', integration, {
      requestValidator: paramsValidator,
      requestParameters: { 'method.request.path.proxy': true },
    });
    const workflowsResource = this.api.root.addResource('workflows');
    workflowsResource.addMethod('ANY', integration, { requestValidator: paramsValidator });
    const workflowResource = workflowsResource.addResource('{name}');
    workflowResource.addMethod('ANY', integration, {
      requestValidator: paramsValidator,
      requestParameters: { 'method.request.path.name': true },
    });
    workflowResource.addResource('executions').addMethod('POST', integration, {
      requestValidator: bodyValidator,
      requestModels: { 'application/json': startModel },
      requestParameters: { 'method.request.path.name': true },
    });

    // /executions/{id}/stream is a resource of its own, integrated in STREAM mode; its parents answer through the
    // buffered integration like {proxy+} does (API Gateway does not fall back to a greedy path from a static one).
    const streamIntegration = new apigw.LambdaIntegration(this.streamHandler.function, {
      proxy: true,
      allowTestInvoke: false,
      responseTransferMode: apigw.ResponseTransferMode.STREAM,
      timeout: Duration.seconds(STREAM_TIMEOUT_SECONDS),
    });
    const executionsResource = this.api.root.addResource('executions');
    executionsResource.addMethod('ANY', integration, { requestValidator: paramsValidator });
    const executionResource = executionsResource.addResource('{id}');
    const idParam = { 'method.request.path.id': true };
    executionResource.addMethod('ANY', integration, {
      requestValidator: paramsValidator,
      requestParameters: idParam,
    });
    executionResource.addResource('{proxy+}').addMethod('ANY', integration, {
      requestValidator: paramsValidator,
      requestParameters: { ...idParam, 'method.request.path.proxy': true },
    });
    executionResource.addResource('stream').addMethod('GET', streamIntegration, {
      requestValidator: paramsValidator,
      requestParameters: idParam,
    });
    // GET /stream?workflow=: every run of one workflow, on the same streaming function. API Gateway refuses a
    // request without `workflow` itself (400 in the problem format), before invoking anything for 15 minutes.
    this.api.root.addResource('stream').addMethod('GET', streamIntegration, {
      requestValidator: paramsValidator,
      requestParameters: { 'method.request.querystring.workflow': true },
    });

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the wflo API (SigV4-signed requests, see DEPLOYMENT.md)',
    });

    // No physical name: two environments in one account, or a replacement, never collide on it.
    this.callerPolicy = new iam.ManagedPolicy(this, 'CallerPolicy', {
      description: `Run wflo workflows through the ${props.prefix} API (${API_STAGE}): start, list and read executions`,
      statements: [
        new iam.PolicyStatement({
          actions: ['execute-api:Invoke'],
          resources: CALLER_ROUTES.map(([method, path]) =>
            this.api.arnForExecuteApi(method, path, this.api.deploymentStage.stageName),
          ),
        }),
      ],
    });
    // cdk-nag quotes each wildcard resource with the API's and the stage's logical ids.
    const idOf = (c: Construct) =>
      this.resolve(this.getLogicalId(c.node.defaultChild as CfnElement)) as string;
    const routeArn = `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${idOf(this.api)}>/<${idOf(this.api.deploymentStage)}>`;
    for (const [method, path] of CALLER_ROUTES.filter(([, path]) => path.includes('*'))) {
      Validations.of(this.callerPolicy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${routeArn}/${method}${path}]`,
        reason:
          'The wildcard stands for a path parameter chosen at run time (workflow name or execution id) and is ' +
          `confined to one route of this API stage: ${method} ${path}.`,
      });
    }
    new CfnOutput(this, 'CallerPolicyArn', {
      value: this.callerPolicy.managedPolicyArn,
      description:
        'Managed policy to attach to whoever runs workflows through the API (execute-api:Invoke on the caller routes)',
    });

    for (const [id, type] of [
      ['BadRequestBody', apigw.ResponseType.BAD_REQUEST_BODY],
      ['BadRequestParameters', apigw.ResponseType.BAD_REQUEST_PARAMETERS],
    ] as const) {
      this.api.addGatewayResponse(id, {
        type,
        statusCode: '400',
        responseHeaders: { 'Content-Type': "'application/problem+json'" },
        templates: { 'application/json': PROBLEM_TEMPLATE },
      });
    }

    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every method requires SigV4 (IAM) or Cognito authorization, so anonymous traffic is rejected by API Gateway ' +
        'before it costs anything; stage throttling bounds abuse. Attach a WAF web ACL to the stage where a public ' +
        'client base needs IP or bot rules.',
    });
    if (!authorizer) {
      Validations.of(this.api).acknowledge({
        id: 'AwsSolutions-COG4',
        reason:
          'Methods use AWS_IAM authorization (SigV4 with IAM principals), the default for this service-to-service API; ' +
          'a Cognito user-pool authorizer is available with -c apiAuth=cognito.',
      });
    }
  }
}
