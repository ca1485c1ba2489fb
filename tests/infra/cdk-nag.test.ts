import { rmSync } from 'node:fs';
import { Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedWflo } from './app-fixture.ts';
import { acknowledgements, nagFindings, rawNagFindings, type SynthesizedWflo, testApp } from './helpers.ts';

/*
 * cdk-nag AwsSolutions on the whole app: no unacknowledged finding, no stale acknowledgement.
 */

let w: SynthesizedWflo;

// GIVEN the test environment ('test', with an alarm email), synthesized once per worker (tests/infra/app-fixture.ts)
beforeAll(() => {
  w = sharedWflo();
}, 180_000);

describe('cdk-nag: AwsSolutions', () => {
  it('reports no unacknowledged finding on the whole app', () => {
    const findings = nagFindings(w.app).map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('acknowledges only real findings, each with a reason a reviewer can check', () => {
    const raw = rawNagFindings(w.app);
    const acks = acknowledgements(w.app).filter((a) => a.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // Not stale: the acknowledged rule really fires on this construct (or inside it).
      const covers = raw.some(
        (v) =>
          v.ruleName === ack.id &&
          v.violatingResources.some(
            (r) => r.constructPath === ack.path || (r.constructPath ?? '').startsWith(`${ack.path}/`),
          ),
      );
      expect({ ...ack, covers }).toMatchObject({ covers: true });
      // A reason names why the finding is acceptable here, not that it is suppressed.
      expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(80);
      expect(ack.reason).not.toMatch(/\b(todo|tbd|fixme|suppress(ed)?|ignore[d]?|not needed|n\/a)\b/i);
    }
  });

  it('does flag a non-compliant resource (the pack is really running)', () => {
    const { app, outdir } = testApp();
    try {
      const stack = new Stack(app, 'NagControl');
      new s3.Bucket(stack, 'Plain', { encryption: s3.BucketEncryption.S3_MANAGED });
      const rules = nagFindings(app).map((v) => v.ruleName);
      expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
      // Registered the way infra/app.ts registers it, a finding fails synth.
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
