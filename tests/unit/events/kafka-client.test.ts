import { describe, expect, it } from 'vitest';
import { clientOptions } from '#shared/events/kafka-client';

/*
 * The Lambda bundles carry an ajv that compiles nothing (infra/constructs/bundling/ajv-2020.js): correct only
 * while no Kafka client is created with `strict: true`, the one setting under which the client validates.
 */
describe('Kafka client options', () => {
  it.each([
    { brokers: ['127.0.0.1:9092'], auth: { kind: 'none' as const } },
    { brokers: ['b-1.msk:9098'], auth: { kind: 'iam' as const, region: 'eu-west-1' } },
  ])('never ask the client to validate with ajv (strict: false), auth $auth.kind', (kafka) => {
    // WHEN the options every client (producer, admin) is created with are built
    const options = clientOptions(kafka, 'wflo-test');
    // THEN strict validation is off explicitly, and IAM auth is OAUTHBEARER over TLS with a token callback
    expect(options.strict).toBe(false);
    if (kafka.auth.kind === 'iam') {
      expect(options.tls).toEqual({});
      expect(options.sasl).toMatchObject({ mechanism: 'OAUTHBEARER' });
      expect(typeof (options.sasl as { token?: unknown }).token).toBe('function');
    }
  });
});
