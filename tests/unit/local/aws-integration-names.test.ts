import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  configuredEndpoint,
  endpointVariable,
  installedSdkPackages,
} from '../../../infra/local/engine/integrations/aws-clients.ts';
import { sdkServicePrefix } from '../../../infra/local/engine/integrations/aws-errors.ts';
import { md5OfMessageAttributes } from '../../../infra/local/engine/integrations/messaging.ts';

describe('sdkServicePrefix', () => {
  it.each([
    ['DynamoDB', 'DynamoDb'],
    ['SFN', 'Sfn'],
    ['S3', 'S3'],
    ['SNS', 'Sns'],
    ['ACM PCA', 'AcmPca'],
    ['Secrets Manager', 'SecretsManager'],
    ['EventBridge', 'EventBridge'],
    ['EC2', 'Ec2'],
    ['CloudWatch Logs', 'CloudWatchLogs'],
  ])('names %s errors %s.*, as Step Functions does', (serviceId, prefix) => {
    expect(sdkServicePrefix(serviceId)).toBe(prefix);
  });
});

describe('endpoint variables', () => {
  it('reads AWS_ENDPOINT_URL_<SERVICE_ID> first, then AWS_ENDPOINT_URL, and neither when told to ignore them', () => {
    // Prepare
    const env = { AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://sm', AWS_ENDPOINT_URL: 'http://all' };

    // Act / Assess
    expect(endpointVariable('Secrets Manager')).toBe('AWS_ENDPOINT_URL_SECRETS_MANAGER');
    expect(configuredEndpoint('Secrets Manager', env)).toBe('http://sm');
    expect(configuredEndpoint('DynamoDB', env)).toBe('http://all');
    expect(configuredEndpoint('DynamoDB', {})).toBeUndefined();
    expect(
      configuredEndpoint('DynamoDB', { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }),
    ).toBeUndefined();
  });

  it('maps the service names of aws-sdk resources to the installed client packages', () => {
    const packages = installedSdkPackages();
    expect(packages.get('secretsmanager')).toBe('@aws-sdk/client-secrets-manager');
    expect(packages.get('dynamodb')).toBe('@aws-sdk/client-dynamodb');
    expect(packages.get('eventbridge')).toBe('@aws-sdk/client-eventbridge');
  });
});

describe('md5OfMessageAttributes', () => {
  it('hashes length-prefixed name, type, transport byte and value, attributes sorted by name', () => {
    // Prepare: the bytes SQS hashes for one String attribute a=b, written out by hand.
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('a'),
      Buffer.from([0, 0, 0, 6]),
      Buffer.from('String'),
      Buffer.from([1]),
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('b'),
    ]);

    // Act
    const md5 = md5OfMessageAttributes({ a: { DataType: 'String', StringValue: 'b' } });

    // Assess
    expect(md5).toBe(createHash('md5').update(expected).digest('hex'));
  });
});
