import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, METRICS_NAMESPACE } from '../../functions/shared/contracts/metrics.ts';
import { ACTIVITIES } from '../../infra/activities.ts';
import { COMPOSITE_LIMITS, countAlarms } from '../../infra/alarm-count.ts';
import { REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import { RUNBOOK_ANCHORS, RUNBOOK_PATH, TIERS } from '../../infra/stacks/monitoring-alarms.ts';
import { listWorkflowFiles } from '../../infra/workflows/files.ts';
import { sharedWflo } from './app-fixture.ts';
import { logicalId, resourcesOfType, type SynthesizedWflo, synthWflo } from './helpers.ts';

/** The anchors GitHub gives the headings of a Markdown file (lower case, punctuation dropped, spaces → -). */
function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of markdown.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    anchors.add(
      heading!
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return anchors;
}

const RUNBOOK = readFileSync(join(REPO_ROOT, RUNBOOK_PATH), 'utf8');
const WORKFLOWS = 30;
/** Alarms that do not depend on the number of workflows. */
const FIXED_METRIC_ALARMS =
  3 * ACTIVITIES.length + // errors, throttles, p99 duration per activity
  2 + // API 5XX, latency
  5 + // status projection: dead letters, backlog age, projector errors, reconciler errors, runs reconciled
  2 + // Aurora capacity, CPU
  2 + // Valkey throttling, latency
  2 + // cost per hour, budget exceeded
  1 + // approval sweeper errors
  4; // events (Kafka is on here): relay lag, relay errors, consumer lag, run notifier errors
/** Activities, API, status projection, database, cost and events have both tiers; the cache and approvals only warn. */
const FIXED_COMPOSITES = 2 * 6 + 2;

let w: SynthesizedWflo;
let statemachines: string;
beforeAll(() => {
  // GIVEN an app with 30 small workflows and Kafka on (the widest alarm set there is)
  statemachines = mkdtempSync(join(tmpdir(), 'wflo-statemachines-'));
  for (let i = 1; i <= WORKFLOWS; i++) {
    const asl = {
      Comment: `generated workflow ${i}`,
      StartAt: 'Done',
      TimeoutSeconds: 3600,
      States: { Done: { Type: 'Pass', End: true } },
    };
    writeFileSync(join(statemachines, `generated-${i}.asl.json`), JSON.stringify(asl));
  }
  w = synthWflo(
    { envName: 'many', alarmEmail: 'ops@example.com', kafka: 'true' },
    { statemachinesDirectory: statemachines },
  );
}, 300_000);
afterAll(() => {
  w?.cleanup();
  rmSync(statemachines, { recursive: true, force: true });
});

const metricAlarms = () => resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::Alarm');
const composites = () => resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::CompositeAlarm');

describe('Alarms: runbook', () => {
  it('has a runbook section for every anchor an alarm can link to', () => {
    const anchors = markdownAnchors(RUNBOOK);
    expect(RUNBOOK_ANCHORS.filter((a) => !anchors.has(a))).toEqual([]);
  });

  it('links every alarm to a section of docs/runbook.md that exists', () => {
    // WHEN the links of every synthesized alarm are read
    const anchors = markdownAnchors(RUNBOOK);
    const all = [...metricAlarms(), ...composites()];
    const links = all.map(([id, a]) => {
      const description = String(a.Properties?.AlarmDescription ?? '');
      const link = description.match(/Runbook: docs\/runbook\.md#([a-z0-9-]+)/)?.[1];
      return { id, link, exists: link !== undefined && anchors.has(link) };
    });

    // THEN each has one, to a heading the runbook has
    expect(all.length).toBeGreaterThan(0);
    expect(links.filter((l) => !l.exists)).toEqual([]);
  });
});

describe('Alarms: tiers and composites', () => {
  it('notifies only through composites, each to its own tier topic', () => {
    const topics = Object.fromEntries(TIERS.map((t) => [t, logicalId(w.stacks.monitoring.topics[t])]));
    expect(new Set(Object.values(topics)).size).toBe(TIERS.length);
    for (const [, a] of metricAlarms()) expect(a.Properties?.AlarmActions).toBeUndefined();
    for (const [, c] of composites()) {
      const name = String(c.Properties?.AlarmName);
      const tier = TIERS.find((t) => name.endsWith(`-${t}`));
      expect(tier, name).toBeDefined();
      expect(c.Properties).toMatchObject({
        AlarmActions: [{ Ref: topics[tier!] }],
        OKActions: [{ Ref: topics[tier!] }],
      });
    }
    for (const tier of TIERS) {
      w.templates.monitoring.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        TopicArn: { Ref: logicalId(w.stacks.monitoring.topics[tier]) },
      });
    }
  });

  it('puts every alarm under exactly one composite of its own tier, one composite per source and tier', () => {
    // WHEN each composite's rule is matched to the alarms it names
    const children = new Map<string, string[]>();
    for (const [, c] of composites()) {
      const rule = JSON.stringify(c.Properties?.AlarmRule);
      const ids = [...rule.matchAll(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/g)].map((m) => m[1]!);
      children.set(String(c.Properties?.AlarmName), ids);
    }
    const referenced = [...children.values()].flat();

    // THEN no alarm is left out or counted twice, and tiers never mix
    expect(referenced.sort()).toEqual(
      metricAlarms()
        .map(([id]) => id)
        .sort(),
    );
    for (const [composite, ids] of children) {
      const tier = composite.split('-').at(-1);
      for (const id of ids) {
        expect(String(w.json.monitoring.Resources[id]?.Properties?.AlarmName), composite).toMatch(
          new RegExp(`-${tier}$`),
        );
      }
    }
    const names = [...children.keys()];
    expect(new Set(names).size).toBe(names.length);
    for (let i = 1; i <= WORKFLOWS; i++) {
      for (const tier of TIERS)
        expect(children.get(`wflo-many-Workflow-generated-${i}-${tier}`)).toHaveLength(2);
    }
  });

  it('stays within the composite limits with 30 workflows, and has the alarms it is expected to', () => {
    // WHEN the synthesized app is counted
    const count = countAlarms(Object.values(w.json));

    // THEN every composite fits CloudWatch's limits, and the total grows by six alarms per workflow only
    for (const c of count.composites) {
      expect(c.children, c.name).toBeLessThanOrEqual(COMPOSITE_LIMITS.childAlarms);
      expect(c.ruleCharacters, c.name).toBeLessThanOrEqual(COMPOSITE_LIMITS.ruleCharacters);
    }
    expect(count.metricAlarms).toBe(FIXED_METRIC_ALARMS + 4 * WORKFLOWS);
    expect(count.compositeAlarms).toBe(FIXED_COMPOSITES + 2 * WORKFLOWS);
    expect(Math.max(...count.composites.map((c) => c.children))).toBeLessThan(
      COMPOSITE_LIMITS.childAlarms / 4,
    );
  });
});

describe('Alarms: only on what exists', () => {
  it('with Kafka on, alarms on relay lag (missing data breaches) and on the run notifier group lag, and charts both topics', () => {
    // WHEN the Kafka alarms are picked out
    const alarms = metricAlarms().map(([, a]) => a.Properties ?? {});
    const stat = (a: Record<string, unknown>) =>
      (a.Metrics as { MetricStat?: { Metric: Record<string, unknown>; Period: number; Stat: string } }[])?.[0]
        ?.MetricStat;
    const relayLag = alarms.find((a) => stat(a)?.Metric.MetricName === 'OutboxOldestUnsentAge');
    const consumerLag = alarms.find((a) => stat(a)?.Metric.MetricName === 'EstimatedMaxTimeLag');

    // THEN the relay lag pages after five minutes over two minutes, and a relay that reports nothing alarms
    expect(stat(relayLag!)).toMatchObject({ Metric: { Namespace: 'wflo' }, Stat: 'Maximum', Period: 60 });
    expect(relayLag).toMatchObject({
      Threshold: 120,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      TreatMissingData: 'breaching',
    });
    expect(String(relayLag?.AlarmDescription)).toContain('docs/runbook.md#relay-lag');
    // and the consumer lag watches the real consumer group on its topic
    expect(consumerLag).toMatchObject({
      Threshold: 300,
      EvaluationPeriods: 5,
      TreatMissingData: 'notBreaching',
    });
    expect(stat(consumerLag!)?.Metric.Namespace).toBe('AWS/Kafka');
    expect(stat(consumerLag!)?.Metric.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'Consumer Group', Value: 'wflo-run-notifier' },
        { Name: 'Topic', Value: 'wflo.execution-events' },
      ]),
    );
    const dashboards = JSON.stringify(resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toContain('wflo.execution-events');
    expect(dashboards).toContain('wflo.cost-events');
  });

  it('alarms on the status projector dead letters and backlog, and on the reconciler', () => {
    // Queue and function names cross from the orchestration stack as imports that carry their logical ids.
    const o = w.stacks.orchestration;
    const alarms = metricAlarms().map(([, a]) => JSON.stringify(a));
    const on = (metric: string, construct: Parameters<typeof logicalId>[0]) =>
      alarms.filter((a) => a.includes(`"MetricName":"${metric}"`) && a.includes(logicalId(construct)));
    expect(on('ApproximateNumberOfMessagesVisible', o.projectorDeadLetters)).toHaveLength(1);
    expect(on('ApproximateAgeOfOldestMessage', o.statusChanges)).toHaveLength(1);
    expect(on('Errors', o.reconciler.function)).toHaveLength(1);
    expect(on('Errors', o.projector.function)).toHaveLength(1);
    expect(alarms.filter((a) => a.includes('"MetricName":"ExecutionsReconciled"'))).toHaveLength(1);
  });

  it('GIVEN the approval sweeper WHEN it fails three five-minute periods in a row THEN a Warning of source Approvals fires', () => {
    const sweeper = logicalId(w.stacks.orchestration.approvalSweeper.function);
    const errors = metricAlarms().filter(([, a]) => {
      const text = JSON.stringify(a);
      return text.includes('"MetricName":"Errors"') && text.includes(sweeper);
    });
    expect(errors).toHaveLength(1);
    const [alarmId, alarm] = errors[0]!;
    expect(alarm.Properties).toMatchObject({
      AlarmName: 'wflo-many-Fn-approval-sweeper-Fault-Count-Warning',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    expect(String(alarm.Properties?.AlarmDescription)).toContain('docs/runbook.md#approval-sweeper-errors');
    const composite = composites().find(([, c]) => c.Properties?.AlarmName === 'wflo-many-Approvals-Warning');
    expect(JSON.stringify(composite?.[1].Properties?.AlarmRule)).toContain(alarmId);
  });

  it('GIVEN alarms on wflo metrics that are only published when something happens WHEN synthesized THEN missing data does not breach', () => {
    // cdk-monitoring-constructs' custom alarms read treatMissingDataOverride (treatMissingData is ignored)
    const alarms = metricAlarms().map(([, a]) => a.Properties ?? {});
    const named = (metric: string) =>
      alarms.filter((a) => JSON.stringify(a.Metrics ?? a).includes(`"${metric}"`));
    for (const metric of ['ExecutionsReconciled', 'BudgetExceeded', 'CostMicros']) {
      expect(named(metric), metric).toHaveLength(1);
      expect(named(metric)[0], metric).toMatchObject({ TreatMissingData: 'notBreaching' });
    }
  });

  it('charts and alarms on wflo metrics only by the names the functions emit (the metrics contract)', () => {
    // WHEN every metric of the wflo namespace is read from the alarms and the dashboard body
    const alarmed = (v: unknown): string[] => {
      if (Array.isArray(v)) return v.flatMap(alarmed);
      if (!v || typeof v !== 'object') return [];
      const o = v as Record<string, unknown>;
      const own = o.Namespace === METRICS_NAMESPACE && typeof o.MetricName === 'string' ? [o.MetricName] : [];
      return [...own, ...Object.values(o).flatMap(alarmed)];
    };
    const strings = (v: unknown): string[] =>
      typeof v === 'string'
        ? [v]
        : v && typeof v === 'object'
          ? Object.values(v as Record<string, unknown>).flatMap(strings)
          : [];
    const dashboards = resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::Dashboard');
    const body = strings(dashboards.map(([, d]) => d.Properties?.DashboardBody)).join('');
    const charted = [...body.matchAll(new RegExp(`\\["${METRICS_NAMESPACE}","(\\w+)"`, 'g'))].map(
      (m) => m[1]!,
    );
    const inAlarms = alarmed(metricAlarms().map(([, a]) => a.Properties));

    // THEN each is a name of the contract, and the business metrics are all there
    const known = new Set<string>(Object.values(METRICS));
    expect([...inAlarms, ...charted].filter((n) => !known.has(n))).toEqual([]);
    expect(new Set(inAlarms)).toEqual(
      new Set([
        METRICS.ExecutionsReconciled,
        METRICS.CostMicros,
        METRICS.BudgetExceeded,
        METRICS.OutboxOldestUnsentAge,
      ]),
    );
    expect(charted).toEqual(
      expect.arrayContaining([METRICS.CacheHit, METRICS.CacheMiss, METRICS.CostMicros]),
    );
  });
});

describe('Stack: Monitoring (the shared test environment)', () => {
  // This describe's own `w`: the shared app, not the 30-workflow one above.
  let w: SynthesizedWflo;
  const workflows = listWorkflowFiles();
  // GIVEN the test environment ('test', with an alarm email), synthesized once per worker (app-fixture.ts)
  beforeAll(() => {
    w = sharedWflo();
  }, 180_000);
  const t = () => w.templates.monitoring;

  it('alarms on every workflow and notifies through one composite per source and tier', () => {
    const alarms = resourcesOfType(w.json.monitoring, 'AWS::CloudWatch::Alarm').map(([, a]) =>
      JSON.stringify(a),
    );
    for (const wf of workflows) {
      for (const [metric, tier] of [
        ['ExecutionsFailed', 'Critical'],
        ['ExecutionsTimedOut', 'Critical'],
        ['ExecutionThrottled', 'Warning'],
        ['ExecutionsAborted', 'Warning'],
      ]) {
        const matching = alarms.filter(
          (a) =>
            a.includes(`"AlarmName":"wflo-test-Workflow-${wf.name}-`) &&
            a.includes(`-${tier}","`) &&
            a.includes(`"MetricName":"${metric}"`),
        );
        expect([wf.name, metric, matching.length]).toEqual([wf.name, metric, 1]);
      }
      for (const tier of TIERS) {
        t().hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
          AlarmName: `wflo-test-Workflow-${wf.name}-${tier}`,
          AlarmActions: [{ Ref: logicalId(w.stacks.monitoring.topics[tier]) }],
        });
      }
    }
    for (const a of alarms) expect(a).not.toContain('"AlarmActions"');
  });

  it('reads the Powertools metrics of namespace wflo and has one dashboard', () => {
    const text = JSON.stringify(w.json.monitoring);
    for (const name of ['CostMicros', 'BudgetExceeded', 'CacheHit', 'CacheMiss', 'ExecutionsReconciled'])
      expect(text).toContain(name);
    t().hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ Namespace: 'wflo', MetricName: 'CostMicros' }),
          }),
        }),
      ]),
    });
    t().resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('notifies the alarm email through encrypted, TLS-only topics, one per tier', () => {
    t().resourceCountIs('AWS::SNS::Topic', TIERS.length);
    t().hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t().resourceCountIs('AWS::SNS::Subscription', TIERS.length);
    t().hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t().hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});
