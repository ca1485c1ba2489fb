import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { ACTIVITIES, RESOURCE_VARIABLES, substituteVariables } from '../activities.ts';
import { REPO_ROOT } from './wflo-function.ts';

/** Folder of the workflow definitions, relative to the repository root. */
export const STATEMACHINES_DIR = 'statemachines';

/** One `statemachines/<name>.asl.json` file. */
export interface WorkflowFile {
  /** Workflow name = file name without `.asl.json` (kebab-case). */
  readonly name: string;
  readonly path: string;
  readonly text: string;
}

/** Every workflow file, sorted by name. Fails on a file name that cannot name a state machine. */
export function listWorkflowFiles(dir = join(REPO_ROOT, STATEMACHINES_DIR)): WorkflowFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.asl.json'))
    .sort()
    .map((f) => {
      const name = basename(f, '.asl.json');
      if (!/^[a-z][a-z0-9-]{0,40}$/.test(name)) {
        throw new Error(
          `${STATEMACHINES_DIR}/${f}: workflow names must be kebab-case (a-z, 0-9, -), <= 41 characters`,
        );
      }
      const path = join(dir, f);
      return { name, path, text: readFileSync(path, 'utf8') };
    });
}

const PLACEHOLDER_ACCOUNT = '123456789012';
const PLACEHOLDER_REGION = 'us-east-1';

/**
 * Syntactically valid stand-ins for every known variable, for offline validation (asl-validator checks ARNs).
 * Lambda variables become function ARNs named after the activity.
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

interface AslValidationResult {
  isValid: boolean;
  errors: unknown[];
  errorsText: (separator?: string) => string;
}
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => AslValidationResult;
// asl-validator is CommonJS without type declarations; type it here rather than declaring a global module.
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/**
 * Checks one workflow file: every `${Var}` has a binding (the error names it), the result is JSON, and
 * asl-validator accepts it. Returns the parsed definition with placeholders substituted.
 */
export function validateWorkflow(file: WorkflowFile, bindings = placeholderBindings()): AslDefinition {
  const text = substituteVariables(file.text, bindings, `${STATEMACHINES_DIR}/${file.name}.asl.json`);
  let definition: AslDefinition;
  try {
    definition = JSON.parse(text) as AslDefinition;
  } catch (cause) {
    throw new Error(`${STATEMACHINES_DIR}/${file.name}.asl.json: not valid JSON`, { cause });
  }
  const result = aslValidator(definition);
  if (!result.isValid) {
    throw new Error(`${STATEMACHINES_DIR}/${file.name}.asl.json: invalid ASL: ${result.errorsText('; ')}`);
  }
  return definition;
}

/** The parts of an ASL document the grant analysis reads. */
export interface AslDefinition {
  readonly States: Record<string, AslState>;
}
interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
  readonly Arguments?: Record<string, unknown>;
  readonly Branches?: AslDefinition[];
  readonly ItemProcessor?: AslDefinition;
  readonly Iterator?: AslDefinition;
}

/** What a workflow calls, and therefore what its role must be allowed to do. */
export interface WorkflowIntegrations {
  /** Substitution variables naming Lambda functions the workflow invokes. */
  readonly lambdaVariables: string[];
  /** ECS RunTask calls: task definition and cluster variables, and whether any waits for completion (.sync). */
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
 */
export function analyzeIntegrations(source: string, definition: AslDefinition): WorkflowIntegrations {
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
  const lambdaVars = ACTIVITIES.map((a) => a.variable);

  const walk = (def: AslDefinition): void => {
    for (const [name, state] of Object.entries(def.States ?? {})) {
      if (state.Type === 'Parallel') for (const b of state.Branches ?? []) walk(b);
      if (state.Type === 'Map') {
        const inner = state.ItemProcessor ?? state.Iterator;
        if (inner) walk(inner);
      }
      if (state.Type !== 'Task') continue;
      const resource = state.Resource ?? '';
      const args = state.Parameters ?? state.Arguments ?? {};
      if (LAMBDA_INVOKE.test(resource)) {
        if ('FunctionName.$' in args) {
          throw new Error(
            `${source}: state '${name}': FunctionName.$ (a dynamic function) cannot be granted precisely`,
          );
        }
        lambdaVariables.add(bindingOf(name, 'FunctionName', args.FunctionName, lambdaVars));
      } else if (VARIABLE.test(resource)) {
        lambdaVariables.add(bindingOf(name, 'Resource', resource, lambdaVars));
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
          `${source}: state '${name}': integration '${resource}' has no grant rule in infra/constructs/asl.ts; ` +
            'add one (exact resources) before using it',
        );
      }
    }
  };
  walk(definition);
  return { lambdaVariables: [...lambdaVariables].sort(), ecsRunTask: ecs };
}
