import { rmSync } from 'node:fs';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { WfloFunction } from '../../infra/constructs/wflo-function.ts';
import { grantBedrockModel } from '../../infra/stacks/orchestration-stack.ts';
import { deployedEnvironment } from './deployed-env.ts';
import {
  actionsOf,
  type CfnTemplate,
  logicalId,
  nagFindings,
  type SynthesizedWflo,
  statementsOfRole,
  synthWflo,
  testApp,
} from './helpers.ts';

const PROFILE = 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0';

describe('App variant: bedrock through a cross-region inference profile', () => {
  let w: SynthesizedWflo;
  beforeAll(() => {
    w = synthWflo({ envName: 'br', llmProvider: 'bedrock', llmModel: PROFILE, kafka: false });
  }, 180_000);
  afterAll(() => w?.cleanup());

  it('lets llm-invoke, and nothing else, invoke exactly that model', () => {
    for (const [id, fn] of w.stacks.orchestration.activities) {
      const bedrock = statementsOfRole(w.json.orchestration, logicalId(fn.role)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('bedrock:')),
      );
      if (id !== 'llm-invoke') {
        expect(bedrock).toEqual([]);
        continue;
      }
      expect(bedrock).toHaveLength(1);
      expect(actionsOf(bedrock[0]!)).toEqual(['bedrock:InvokeModel']);
      const text = JSON.stringify(bedrock[0]!.Resource);
      expect(text).toContain(`:inference-profile/${PROFILE}`);
      expect(text).toContain(':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0');
      const vars = (
        w.json.orchestration.Resources[logicalId(fn.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      expect(loadConfig(deployedEnvironment(vars)).llm).toMatchObject({
        defaultProvider: 'bedrock',
        defaultModel: PROFILE,
      });
    }
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(nagFindings(w.app).map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });
});

describe('Function: grantBedrockModel', () => {
  let cleanup: () => void;
  let t: CfnTemplate;
  let fn: WfloFunction;
  beforeAll(() => {
    const { app, outdir } = testApp();
    cleanup = () => rmSync(outdir, { recursive: true, force: true });
    const stack = new Stack(app, 'BedrockGrant');
    fn = new WfloFunction(stack, 'Fn', {
      entry: 'functions/activities/llm-invoke.ts',
      description: 'test',
      logRetention: logs.RetentionDays.ONE_DAY,
    });
    grantBedrockModel(fn, 'amazon.nova-lite-v1:0');
    t = Template.fromStack(stack).toJSON() as CfnTemplate;
  }, 60_000);
  afterAll(() => cleanup?.());

  it('grants a plain model id in this region only, with no wildcard', () => {
    const bedrock = statementsOfRole(t, logicalId(fn.role)).filter((s) =>
      actionsOf(s).includes('bedrock:InvokeModel'),
    );
    expect(bedrock).toHaveLength(1);
    expect(bedrock[0]!.Resource).toEqual({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':bedrock:',
          { Ref: 'AWS::Region' },
          '::foundation-model/amazon.nova-lite-v1:0',
        ],
      ],
    });
    expect(nagFindings(fn).map((v) => v.ruleName)).toEqual([]);
  });
});
