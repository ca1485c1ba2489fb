/**
 * Resolves a synthesized Lambda environment the way CloudFormation would, with plausible stand-ins for values
 * only known at deploy time, so tests can hand it to loadConfig() and see the config a deployed function gets.
 */
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

export const FAKE_CLUSTER_ARN = `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:wflo-db`;
export const FAKE_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:wflo/aurora/admin-AbCdEf`;

/** A deployed value for a reference, recognised by the logical id / output name it points at. */
function standIn(reference: string): string {
  if (/StateMachine/.test(reference)) {
    return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${reference.replace(/[^A-Za-z0-9-]/g, '')}`;
  }
  if (/DatabaseSecret/.test(reference)) return FAKE_SECRET_ARN;
  // A topic's Ref is its ARN.
  if (/Topic/.test(reference))
    return `arn:aws:sns:${REGION}:${ACCOUNT}:${reference.replace(/[^A-Za-z0-9-]/g, '')}`;
  if (/EndpointPort/.test(reference)) return '6379';
  if (/Database/.test(reference)) return 'wflo-db';
  return `deployed-${reference.replace(/[^A-Za-z0-9-]/g, '').toLowerCase()}`;
}

function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if (typeof o.Ref === 'string') return PSEUDO[o.Ref] ?? standIn(o.Ref);
  if (Array.isArray(o['Fn::Join'])) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(sep);
  }
  if (Array.isArray(o['Fn::GetAtt'])) return standIn((o['Fn::GetAtt'] as string[]).join('.'));
  if (o['Fn::GetStackOutput']) return standIn((o['Fn::GetStackOutput'] as { OutputName: string }).OutputName);
  if (o['Fn::ImportValue']) return standIn(JSON.stringify(o['Fn::ImportValue']));
  throw new Error(`deployedEnvironment: no stand-in for ${JSON.stringify(value)}`);
}

/**
 * A Lambda's `Environment.Variables` with every intrinsic resolved to a plausible deployed value, plus the
 * variables the Lambda runtime itself provides.
 */
export function deployedEnvironment(vars: Record<string, unknown>): Record<string, string> {
  return {
    AWS_REGION: REGION,
    AWS_LAMBDA_FUNCTION_NAME: 'wflo-function',
    ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolve(v)])),
  };
}
