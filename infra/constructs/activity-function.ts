import type { Construct } from 'constructs';
import type { ActivityDefinition } from '../activities.ts';
import { WfloFunction, type WfloFunctionProps } from './wflo-function.ts';

export interface ActivityFunctionProps
  extends Omit<WfloFunctionProps, 'entry' | 'description' | 'memoryMb' | 'timeoutSeconds' | 'functionName'> {
  /** The activity, from `ACTIVITIES` in infra/activities.ts. */
  readonly activity: ActivityDefinition;
  /** Prefix of the physical function name, e.g. `wflo-dev`. */
  readonly namePrefix: string;
}

/**
 * One activity Lambda: its registry `entry` (`functions/activities/<id>.ts`) with the house defaults of {@link WfloFunction}
 * (esbuild ESM bundle, minify, source maps on request, arm64, newest Node.js, X-Ray, explicit log group) and the memory and
 * timeout the activity declares. Fails synth, naming the file, when the activity's entry file is missing.
 * @example new ActivityFunction(this, 'LlmInvoke', { activity, namePrefix: 'wflo-dev', logRetention, vpc, securityGroups })
 */
export class ActivityFunction extends WfloFunction {
  readonly activity: ActivityDefinition;

  constructor(scope: Construct, id: string, props: ActivityFunctionProps) {
    const { activity, namePrefix, ...rest } = props;
    if (!/^[a-z][a-z0-9-]*$/.test(activity.id)) {
      throw new Error(
        `activity id '${activity.id}' must be kebab-case (it names functions/activities/<id>.ts)`,
      );
    }
    if (activity.timeoutSeconds < 1 || activity.timeoutSeconds > 900) {
      throw new Error(
        `activity '${activity.id}': timeoutSeconds must be 1..900 (Lambda's limit), got ${activity.timeoutSeconds}`,
      );
    }
    if (activity.memoryMb < 128 || activity.memoryMb > 10_240) {
      throw new Error(`activity '${activity.id}': memoryMb must be 128..10240, got ${activity.memoryMb}`);
    }
    super(scope, id, {
      ...rest,
      entry: activity.entry,
      description: `wflo activity ${activity.id}: ${activity.description}`.slice(0, 256),
      memoryMb: activity.memoryMb,
      timeoutSeconds: activity.timeoutSeconds,
      functionName: `${namePrefix}-${activity.id}`.slice(0, 64),
    });
    this.activity = activity;
  }
}
