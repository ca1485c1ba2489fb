import { rmSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { WfloFunction } from '../../infra/constructs/wflo-function.ts';
import { parseContext } from '../../infra/stacks/context.ts';
import { grantBedrockModel, llmEnvironment } from '../../infra/stacks/orchestration-stack.ts';
import { actionsOf, type CfnTemplate, logicalId, nagFindings, statementsOfRole, testApp } from './helpers.ts';

const PROFILE = 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0';
const PLAIN = 'amazon.nova-lite-v1:0';

describe('Function: grantBedrockModel', () => {
  let cleanup: () => void;
  let t: CfnTemplate;
  const fns: Record<string, WfloFunction> = {};
  beforeAll(() => {
    const { app, outdir } = testApp();
    cleanup = () => rmSync(outdir, { recursive: true, force: true });
    const stack = new Stack(app, 'BedrockGrant');
    for (const [id, model] of [
      ['Plain', PLAIN],
      ['Profile', PROFILE],
    ] as const) {
      fns[id] = new WfloFunction(stack, id, {
        entry: 'functions/activities/llm-invoke.ts',
        description: 'test',
        logRetention: logs.RetentionDays.ONE_DAY,
      });
      grantBedrockModel(fns[id]!, model);
    }
    t = Template.fromStack(stack).toJSON() as CfnTemplate;
  }, 60_000);
  afterAll(() => cleanup?.());

  const bedrockStatements = (id: string) =>
    statementsOfRole(t, logicalId(fns[id]!.role)).filter((s) =>
      actionsOf(s).some((a) => a.startsWith('bedrock:')),
    );

  it('grants a plain model id in this region only, with no wildcard', () => {
    const bedrock = bedrockStatements('Plain');
    expect(bedrock).toHaveLength(1);
    expect(actionsOf(bedrock[0]!)).toEqual(['bedrock:InvokeModel']);
    expect(bedrock[0]!.Resource).toEqual({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':bedrock:',
          { Ref: 'AWS::Region' },
          `::foundation-model/${PLAIN}`,
        ],
      ],
    });
    expect(nagFindings(fns.Plain!).map((v) => v.ruleName)).toEqual([]);
  });

  it('grants an inference profile and its one model in the regions the profile routes to, acknowledged', () => {
    const bedrock = bedrockStatements('Profile');
    expect(bedrock).toHaveLength(1);
    const text = JSON.stringify(bedrock[0]!.Resource);
    expect(text).toContain(`:inference-profile/${PROFILE}`);
    expect(text).toContain(':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(text.match(/\*/g)).toHaveLength(1);
    expect(nagFindings(fns.Profile!).map((v) => v.ruleName)).toEqual([]);
  });

  it('configures loadConfig() for bedrock from the context', () => {
    const env = llmEnvironment(parseContext({ llmProvider: 'bedrock', llmModel: PROFILE }));
    expect(loadConfig({ ...env, AWS_REGION: 'eu-west-1' }).llm).toMatchObject({
      defaultProvider: 'bedrock',
      defaultModel: PROFILE,
    });
  });
});
