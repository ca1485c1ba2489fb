import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_STAGE } from '../../infra/stacks/api-stack.ts';
import { resourcesOfType, type SynthesizedWflo, synthWflo } from './helpers.ts';

let w: SynthesizedWflo;
beforeAll(() => {
  w = synthWflo();
});
afterAll(() => w.cleanup());

/** `arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<METHOD><path>`, as CDK renders it. */
const route = (apiLogicalId: string, method: string, path: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      { Ref: apiLogicalId },
      '/',
      { Ref: expect.stringMatching(/DeploymentStagev1/) },
      `/${method}${path}`,
    ],
  ],
});

describe('Stack: Api — caller policy', () => {
  it('exports a managed policy allowing execute-api:Invoke on exactly the caller routes of the stage', () => {
    // GIVEN the synthesized API stack
    const t = w.json.api;
    const [[apiId]] = resourcesOfType(t, 'AWS::ApiGateway::RestApi') as [[string, unknown]];

    // WHEN its managed policies are read
    const policies = resourcesOfType(t, 'AWS::IAM::ManagedPolicy');

    // THEN there is one, with no physical name, attached to nobody, and exactly this document
    expect(policies).toHaveLength(1);
    const [logicalId, policy] = policies[0]!;
    expect(Object.keys(policy.Properties ?? {}).sort()).toEqual(['Description', 'Path', 'PolicyDocument']);
    expect(policy.Properties?.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'execute-api:Invoke',
          // (CDK sorts the resources of a statement.)
          Resource: [
            route(apiId, 'GET', '/executions'),
            route(apiId, 'GET', '/executions/*'),
            route(apiId, 'GET', '/stream'),
            route(apiId, 'GET', '/workflows'),
            route(apiId, 'POST', '/executions/*/cancel'),
            route(apiId, 'POST', '/workflows/*/executions'),
          ],
        },
      ],
    });
    expect(API_STAGE).toBe('v1');
    // AND its ARN is a stack output
    const outputs = t.Outputs as Record<string, { Value: unknown }>;
    expect(outputs.CallerPolicyArn?.Value).toEqual({ Ref: logicalId });
  });
});
