import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITIES, runsInVpc } from '../../infra/activities.ts';
import { NODE_RUNTIME } from '../../infra/constructs/wflo-function.ts';
import { BASE_ACTIVITY_ACTIONS, NEED_ACTIONS, STAR_ONLY_ACTIONS, sharedWflo } from './app-fixture.ts';
import {
  actionsOf,
  type CfnTemplate,
  logicalId,
  resourcesOfType,
  type SynthesizedWflo,
  statementsOfRole,
} from './helpers.ts';

/*
 * Construct: ActivityFunction (infra/constructs/activity-function.ts), one per ACTIVITIES entry.
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('Construct: ActivityFunction', () => {
  const t = (): CfnTemplate => w.json.orchestration;

  it('deploys one function per ACTIVITIES entry with the house defaults', () => {
    const functions = resourcesOfType(t(), 'AWS::Lambda::Function');
    // + the status projector, the reconciler and the approval sweeper
    expect(functions).toHaveLength(ACTIVITIES.length + 3);
    for (const activity of ACTIVITIES) {
      w.templates.orchestration.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `wflo-test-${activity.id}`,
        Runtime: NODE_RUNTIME.name,
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: activity.memoryMb,
        Timeout: activity.timeoutSeconds,
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: Match.anyValue() }),
        // In the VPC only when it needs Valkey (vpc-placement.test.ts checks the subnets and security group).
        VpcConfig: runsInVpc(activity)
          ? Match.objectLike({ SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() })
          : Match.absent(),
        Environment: {
          Variables: Match.objectLike({
            NODE_OPTIONS: Match.absent(),
            POWERTOOLS_SERVICE_NAME: 'wflo',
            POWERTOOLS_METRICS_NAMESPACE: 'wflo',
            DB_NAME: 'wflo',
            DB_CLUSTER_ARN: Match.anyValue(),
            DB_SECRET_ARN: Match.anyValue(),
            LLM_PROVIDER: 'scripted',
          }),
        },
      });
    }
  });

  it.each(ACTIVITIES.map((a) => [a.id, a] as const))(
    '%s: its role may do exactly what the activity needs, on exact resources',
    (id) => {
      const fn = w.stacks.orchestration.activities.get(id)!;
      const statements = statementsOfRole(t(), logicalId(fn.role));
      const needs = ACTIVITIES.find((a) => a.id === id)!.needs;
      const expected = new Set([...BASE_ACTIVITY_ACTIONS, ...needs.flatMap((n) => NEED_ACTIONS[n])]);
      expect(new Set(statements.flatMap(actionsOf))).toEqual(expected);

      for (const s of statements) {
        const text = JSON.stringify(s.Resource);
        if (s.Resource === '*') {
          expect(actionsOf(s).every((a) => STAR_ONLY_ACTIONS.has(a))).toBe(true);
          continue;
        }
        // Only the artifacts prefix may contain a wildcard; every other resource is one named ARN.
        if (text.includes('*')) expect(text).toMatch(/\/executions\/\*"?\]?\]?\}?$/);
      }

      const data = w.stacks.data;
      const resourcesFor = (action: string) =>
        JSON.stringify(statements.filter((s) => actionsOf(s).includes(action)).map((s) => s.Resource));
      expect(resourcesFor('rds-data:ExecuteStatement')).toContain(logicalId(data.cluster));
      if (needs.includes('cache')) {
        const cache = resourcesFor('elasticache:Connect');
        expect(cache).toContain(logicalId(data.cache.cache));
        expect(cache).toContain('CacheAppUser');
      }
    },
  );

  it('sets the Valkey environment only where the activity needs it, and a table name only with approvals-table', () => {
    for (const activity of ACTIVITIES) {
      const env = w.stacks.orchestration.activities.get(activity.id)!;
      const vars = (
        t().Resources[logicalId(env.function)]!.Properties as {
          Environment: { Variables: Record<string, unknown> };
        }
      ).Environment.Variables;
      const needs = activity.needs;
      expect('VALKEY_ENDPOINT' in vars).toBe(needs.includes('cache'));
      if (needs.includes('cache')) expect(vars).toMatchObject({ VALKEY_TLS: 'true', VALKEY_AUTH: 'iam' });
      expect(Object.keys(vars).filter((k) => k.endsWith('_TABLE') || k.startsWith('KAFKA_'))).toEqual(
        needs.includes('approvals-table') ? ['APPROVALS_TABLE'] : [],
      );
    }
  });
});
