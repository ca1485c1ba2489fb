import { ACTIVITIES, RESOURCE_VARIABLES } from '../activities.ts';

/** What fills each `${Variable}` of infra/activities.ts, per target that is not CloudFormation. */

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

/** The local stand-in ARN of an activity's function; the orchestrator routes it to the in-process handler. */
export function localFunctionArn(activityId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:wflo-local-${activityId}`;
}

/** Substitution values for the embedded target: activities → local ARNs; infrastructure → local names. */
export function localBindings(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const a of ACTIVITIES) values[a.variable] = localFunctionArn(a.id);
  for (const v of RESOURCE_VARIABLES) values[v] = `local-${v}`;
  return values;
}

const PLACEHOLDER_ACCOUNT = '123456789012';
const PLACEHOLDER_REGION = 'us-east-1';

/**
 * Syntactically valid stand-ins for every known variable, for offline validation (asl-validator checks ARNs):
 * at synth the real values are CloudFormation tokens. Lambda variables become function ARNs named after the activity.
 */
export function placeholderBindings(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const a of ACTIVITIES) {
    values[a.variable] = `arn:aws:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:wflo-${a.id}`;
  }
  const resources: Record<(typeof RESOURCE_VARIABLES)[number], string> = {
    SandboxCluster: `arn:aws:ecs:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:cluster/wflo-sandbox`,
    SandboxTaskDefinition: `arn:aws:ecs:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:task-definition/wflo-sandbox:1`,
    SandboxSubnets: 'subnet-0123456789abcdef0,subnet-0123456789abcdef1',
    SandboxSecurityGroup: 'sg-0123456789abcdef0',
  };
  for (const v of RESOURCE_VARIABLES) values[v] = resources[v];
  return values;
}
