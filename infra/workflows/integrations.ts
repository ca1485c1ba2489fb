import { ACTIVITIES } from '../activities.ts';
import type { AslDefinition } from './asl.ts';
import { walkStates } from './asl.ts';

/** What a workflow calls, and therefore what its role must be allowed to do. */
export interface WorkflowIntegrations {
  /** Substitution variables naming Lambda functions the workflow invokes. */
  readonly lambdaVariables: string[];
  /** ECS RunTask calls: whether any waits for completion (.sync) or for a task token. */
  readonly ecsRunTask: { readonly sync: boolean; readonly waitForTaskToken: boolean } | undefined;
}

const LAMBDA_INVOKE = /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/;
const ECS_RUN_TASK = /^arn:aws:states:::ecs:runTask(\.sync|\.waitForTaskToken)?$/;
const VARIABLE = /^\$\{([A-Za-z0-9_]+)\}$/;

/**
 * Reads the Task states of a raw (unsubstituted) ASL definition, including Parallel branches and Map
 * processors, and returns the integrations it uses. Throws, naming the state, on an integration the CDK app
 * cannot grant precisely: a dynamic function name, a hard-coded ARN, ECS outside the sandbox, or any other
 * service integration.
 * @param functionVariables the `${Variables}` that may name a Lambda function; @default the activities'
 */
export function analyzeIntegrations(
  source: string,
  definition: AslDefinition,
  functionVariables: readonly string[] = ACTIVITIES.map((a) => a.variable),
): WorkflowIntegrations {
  const lambdaVariables = new Set<string>();
  let ecs: { sync: boolean; waitForTaskToken: boolean } | undefined;
  const bindingOf = (state: string, field: string, value: unknown, allowed?: readonly string[]): string => {
    const m = typeof value === 'string' ? VARIABLE.exec(value) : null;
    if (!m) {
      throw new Error(
        `${source}: state '${state}': ${field} must be a \${Variable} from infra/activities.ts (got ${JSON.stringify(value)}); ` +
          'dynamic or hard-coded targets cannot be granted precisely',
      );
    }
    const name = m[1]!;
    if (allowed && !allowed.includes(name)) {
      throw new Error(
        `${source}: state '${state}': ${field} must be one of ${allowed.map((a) => `\${${a}}`).join(', ')}`,
      );
    }
    return name;
  };

  walkStates(definition, (name, state) => {
    if (state.Type !== 'Task') return;
    const resource = state.Resource ?? '';
    const args = state.Parameters ?? state.Arguments ?? {};
    if (LAMBDA_INVOKE.test(resource)) {
      if ('FunctionName.$' in args) {
        throw new Error(
          `${source}: state '${name}': FunctionName.$ (a dynamic function) cannot be granted precisely`,
        );
      }
      lambdaVariables.add(bindingOf(name, 'FunctionName', args.FunctionName, functionVariables));
    } else if (VARIABLE.test(resource)) {
      lambdaVariables.add(bindingOf(name, 'Resource', resource, functionVariables));
    } else if (ECS_RUN_TASK.test(resource)) {
      bindingOf(name, 'TaskDefinition', args.TaskDefinition, ['SandboxTaskDefinition']);
      bindingOf(name, 'Cluster', args.Cluster, ['SandboxCluster']);
      const suffix = ECS_RUN_TASK.exec(resource)?.[1];
      ecs = {
        sync: (ecs?.sync ?? false) || suffix === '.sync',
        waitForTaskToken: (ecs?.waitForTaskToken ?? false) || suffix === '.waitForTaskToken',
      };
    } else {
      throw new Error(
        `${source}: state '${name}': integration '${resource}' has no grant rule in infra/workflows/integrations.ts; ` +
          'add one (exact resources) before using it',
      );
    }
  });
  return { lambdaVariables: [...lambdaVariables].sort(), ecsRunTask: ecs };
}
