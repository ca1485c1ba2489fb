import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { listWorkflowFiles } from '../../infra/workflows/files.ts';
import { STAR_ONLY_ACTIONS, sharedWflo } from './app-fixture.ts';
import {
  actionsOf,
  logicalId,
  resourcesOf,
  resourcesOfType,
  type SynthesizedWflo,
  statementsOfRole,
} from './helpers.ts';

/*
 * Stack: Api (infra/stacks/api-stack.ts).
 */

let w: SynthesizedWflo;
const workflows = listWorkflowFiles();

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Stack: Api', () => {
  const t = () => w.templates.api;

  it('authorizes every method with IAM and validates requests', () => {
    const methods = resourcesOfType(w.json.api, 'AWS::ApiGateway::Method');
    expect(methods.length).toBe(9);
    for (const [, m] of methods) {
      expect(m.Properties).toMatchObject({
        AuthorizationType: 'AWS_IAM',
        RequestValidatorId: expect.anything(),
      });
    }
    t().hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestModels: { 'application/json': Match.anyValue() },
      RequestValidatorId: Match.anyValue(),
    });
    t().hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
    t().resourceCountIs('AWS::ApiGateway::GatewayResponse', 2);
  });

  it('streams GET /executions/{id}/stream from its own function through a STREAM integration, for up to 15 minutes', () => {
    // THEN the method is a Lambda proxy integration in STREAM mode, invoked with InvokeWithResponseStream
    const streamFn = logicalId(w.stacks.api.streamHandler.function);
    t().hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'GET',
      AuthorizationType: 'AWS_IAM',
      Integration: {
        Type: 'AWS_PROXY',
        ResponseTransferMode: 'STREAM',
        TimeoutInMillis: 900_000,
        Uri: {
          'Fn::Join': [
            '',
            Match.arrayWith([
              Match.stringLikeRegexp('2021-11-15/functions/'),
              { 'Fn::GetAtt': [streamFn, 'Arn'] },
              '/response-streaming-invocations',
            ]),
          ],
        },
      },
    });
    // AND the function may run as long as a streamed response may last; the buffered API keeps 29 s
    t().hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.stringLikeRegexp('-api-stream$'),
      Timeout: 900,
    });
    t().hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: Match.stringLikeRegexp('-api$'),
      Timeout: 29,
    });
    // AND only the two stream methods stream (this one and GET /stream?workflow=)
    const streaming = resourcesOfType(w.json.api, 'AWS::ApiGateway::Method').filter(
      ([, m]) =>
        (m.Properties?.Integration as { ResponseTransferMode?: string } | undefined)?.ResponseTransferMode ===
        'STREAM',
    );
    expect(streaming).toHaveLength(2);
  });

  it('streams GET /stream?workflow= from the same streaming function, refusing a request without workflow at the gateway', () => {
    // GIVEN the root's `stream` resource
    const [[api]] = resourcesOfType(w.json.api, 'AWS::ApiGateway::RestApi') as [[string, unknown]];
    const streamResources = resourcesOfType(w.json.api, 'AWS::ApiGateway::Resource').filter(
      ([, r]) =>
        r.Properties?.PathPart === 'stream' &&
        JSON.stringify(r.Properties?.ParentId) === JSON.stringify({ 'Fn::GetAtt': [api, 'RootResourceId'] }),
    );
    expect(streamResources).toHaveLength(1);
    const [resource] = streamResources[0]!;

    // THEN its one method is GET, IAM-authorized, with `workflow` a required query parameter that the gateway
    // validates, integrated in STREAM mode with the streaming function for 15 minutes
    const methods = resourcesOfType(w.json.api, 'AWS::ApiGateway::Method').filter(
      ([, m]) => JSON.stringify(m.Properties?.ResourceId) === JSON.stringify({ Ref: resource }),
    );
    expect(methods).toHaveLength(1);
    expect(methods[0]![1].Properties).toMatchObject({
      HttpMethod: 'GET',
      AuthorizationType: 'AWS_IAM',
      RequestValidatorId: expect.anything(),
      RequestParameters: { 'method.request.querystring.workflow': true },
      Integration: {
        Type: 'AWS_PROXY',
        ResponseTransferMode: 'STREAM',
        TimeoutInMillis: 900_000,
        Uri: {
          'Fn::Join': [
            '',
            expect.arrayContaining([
              { 'Fn::GetAtt': [logicalId(w.stacks.api.streamHandler.function), 'Arn'] },
              '/response-streaming-invocations',
            ]),
          ],
        },
      },
    });
    // AND the streaming function knows the deployed workflows' names (an unknown one is a 404)
    const env = (
      w.json.api.Resources[logicalId(w.stacks.api.streamHandler.function)]!.Properties as {
        Environment: { Variables: Record<string, unknown> };
      }
    ).Environment.Variables;
    for (const wf of workflows)
      expect(JSON.stringify(env.WORKFLOW_STATE_MACHINES)).toContain(`\\"${wf.name}\\":`);
  });

  it('logs access as JSON, throttles and traces the stage', () => {
    t().hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('"requestId"') },
      MethodSettings: [
        Match.objectLike({
          LoggingLevel: 'ERROR',
          MetricsEnabled: true,
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
        }),
      ],
    });
  });

  it('lets the API start exactly the deployed state machines, encrypting their input with the workflow key', () => {
    const statements = statementsOfRole(w.json.api, logicalId(w.stacks.api.handler.role));
    const start = statements.filter((s) => actionsOf(s).includes('states:StartExecution'));
    expect(start).toHaveLength(1);
    expect(resourcesOf(start[0]!)).toHaveLength(workflows.length);
    // No other Step Functions action: the API starts executions and stops them (POST /executions/{id}/cancel),
    // the latter only on executions of the deployed state machines, and resumes their waiting approval tasks
    // (POST /approvals/{id}/decision); the projector records how they end.
    expect(
      statements
        .flatMap(actionsOf)
        .filter((a) => a.startsWith('states:'))
        .sort(),
    ).toEqual([
      'states:RedriveExecution',
      'states:SendTaskFailure',
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
      'states:StartExecution',
      'states:StopExecution',
    ]);
    const resume = statements.filter((s) => actionsOf(s).includes('states:SendTaskSuccess'));
    expect(resume).toHaveLength(1);
    expect(resourcesOf(resume[0]!)).toEqual(resourcesOf(start[0]!));
    const stop = statements.filter((s) => actionsOf(s).includes('states:StopExecution'));
    expect(stop).toHaveLength(1);
    // Redrive (POST /executions/{id}/redrive) is granted on the same executions, and nowhere else.
    expect(actionsOf(stop[0]!)).toContain('states:RedriveExecution');
    expect(statements.filter((s) => actionsOf(s).includes('states:RedriveExecution'))).toHaveLength(1);
    expect(resourcesOf(stop[0]!)).toHaveLength(workflows.length);
    for (const r of resourcesOf(stop[0]!))
      expect(JSON.stringify(r)).toMatch(/:execution:wflo-test-[a-z0-9-]+:\*/);
    const star = statements.filter((s) => s.Resource === '*').flatMap(actionsOf);
    expect(star.sort()).toEqual([...STAR_ONLY_ACTIONS].sort());
    // Two key grants, each bound by a condition: the workflow key for executions, the data key through DynamoDB
    const kmsStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kmsStatements).toHaveLength(2);
    const [workflowKey, dataKey] = [...kmsStatements].sort(
      (a, b) => actionsOf(a).length - actionsOf(b).length,
    );
    expect(actionsOf(workflowKey!).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(workflowKey!.Condition)).toContain(
      'kms:EncryptionContext:aws:states:stateMachineArn',
    );
    expect(JSON.stringify(dataKey!.Condition)).toContain('"kms:ViaService"');
    // The approvals table: read, list (on its two indexes only) and settle; never put or delete
    const dynamo = statements.flatMap(actionsOf).filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo.sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    const env = (
      w.json.api.Resources[logicalId(w.stacks.api.handler.function)]!.Properties as {
        Environment: { Variables: Record<string, unknown> };
      }
    ).Environment.Variables;
    expect(env).toMatchObject({ DB_NAME: 'wflo' });
    expect(env.APPROVALS_TABLE).toBeDefined();
    expect(JSON.stringify(env.WORKFLOW_STATE_MACHINES)).toContain(
      workflows.map((wf) => `\\"${wf.name}\\":`)[0],
    );
  });
});
