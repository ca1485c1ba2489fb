import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { REPO_ROOT } from './constructs/wflo-function.ts';
import { parseContext } from './stacks/context.ts';
import { createWflo, type WfloOptions } from './stacks/wflo-app.ts';

/** CloudWatch's limits on one composite alarm: its AlarmRule text and the alarms it references. */
export const COMPOSITE_LIMITS = { ruleCharacters: 10_240, childAlarms: 100 } as const;

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}

/** One composite alarm as CloudWatch will see it. */
export interface CompositeSize {
  readonly name: string;
  /** Alarms its rule references. */
  readonly children: number;
  /** Length of its rule with every child ARN written out (longest region name, 12-digit account). */
  readonly ruleCharacters: number;
}

export interface AlarmCount {
  readonly metricAlarms: number;
  readonly compositeAlarms: number;
  readonly total: number;
  readonly composites: CompositeSize[];
}

// The longest commercial region name, so a rule measured here fits in every region.
const WORST_CASE_ARN_PREFIX = 'arn:aws:cloudwatch:ap-southeast-5:123456789012:alarm:';

/**
 * Counts the alarms of synthesized templates and sizes each composite's rule as deployed (child alarm ARNs
 * resolved from the template), for DEPLOYMENT.md and the composite-limit test.
 */
export function countAlarms(templates: readonly { Resources?: Record<string, Resource> }[]): AlarmCount {
  const resources = templates.flatMap((t) => Object.entries(t.Resources ?? {}));
  const byId = new Map(resources);
  const metricAlarms = resources.filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const compositeAlarms = resources.filter(([, r]) => r.Type === 'AWS::CloudWatch::CompositeAlarm');
  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(sep);
    }
    if (Array.isArray(v['Fn::GetAtt'])) {
      const [id] = v['Fn::GetAtt'] as [string, string];
      const name = byId.get(id)?.Properties?.AlarmName;
      if (typeof name !== 'string')
        throw new Error(`composite rule references ${id}, which has no literal AlarmName`);
      return `${WORST_CASE_ARN_PREFIX}${name}`;
    }
    throw new Error(`cannot size composite rule part ${JSON.stringify(value)}`);
  };
  const composites = compositeAlarms.map(([id, r]) => {
    const rule = resolve(r.Properties?.AlarmRule);
    return {
      name: typeof r.Properties?.AlarmName === 'string' ? r.Properties.AlarmName : id,
      children: (rule.match(/\bALARM\(/g) ?? []).length,
      ruleCharacters: rule.length,
    };
  });
  return {
    metricAlarms: metricAlarms.length,
    compositeAlarms: compositeAlarms.length,
    total: metricAlarms.length + compositeAlarms.length,
    composites,
  };
}

/**
 * Synthesizes one environment from cdk.json's context (plus `extraContext`), without bundling, and counts its
 * alarms. `npm run alarms:count` prints the result; `-- --workflows <dir>` counts another statemachines folder.
 */
export function countAppAlarms(
  extraContext: Record<string, unknown> = {},
  options: WfloOptions = {},
): AlarmCount {
  const outdir = mkdtempSync(join(tmpdir(), 'wflo-alarms-'));
  try {
    const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
      context: Record<string, unknown>;
    };
    const app = new App({
      outdir,
      context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...extraContext },
    });
    createWflo(app, parseContext(app.node.getAllContext()), options);
    return countAlarms(app.synth().stacks.map((s) => s.template as { Resources?: Record<string, Resource> }));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--workflows');
  const dir = at > 0 ? process.argv[at + 1] : undefined;
  const count = countAppAlarms({}, dir ? { statemachinesDirectory: dir } : {});
  const largest = [...count.composites].sort((a, b) => b.ruleCharacters - a.ruleCharacters)[0];
  console.log(
    `${count.total} alarms: ${count.metricAlarms} metric alarms, ${count.compositeAlarms} composite alarms` +
      (largest
        ? `; largest composite ${largest.name}: ${largest.children} children, ${largest.ruleCharacters} of ${COMPOSITE_LIMITS.ruleCharacters} rule characters`
        : ''),
  );
}
