/**
 * The contract between ASL files and the two targets: every `${Variable}` an ASL file may use, and what
 * fills it. The CDK app binds each to a deployed resource; the local runtime binds each to the same
 * handler module, invoked in-process. A variable not listed here fails synth and local load by name.
 */

/** An activity implemented as a Lambda handler in `functions/activities/<id>.ts` (export `handler`). */
export interface ActivityDefinition {
  /** Activity id = file name under functions/activities, kebab-case. */
  readonly id: string;
  /** The ASL substitution variable naming this function. */
  readonly variable: string;
  readonly description: string;
  /** Memory for the Lambda on AWS (MB). */
  readonly memoryMb: number;
  /** Lambda timeout (seconds). */
  readonly timeoutSeconds: number;
}

export const ACTIVITIES: readonly ActivityDefinition[] = [
  {
    id: 'llm-invoke',
    variable: 'LlmInvokeFunction',
    description: 'Calls a model through a provider adapter; budget, cache and cost ledger',
    memoryMb: 512,
    timeoutSeconds: 300,
  },
  {
    id: 'execution-finish',
    variable: 'ExecutionFinishFunction',
    description: 'Records the final status, output and totals of an execution',
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  {
    id: 'sandbox-prepare',
    variable: 'SandboxPrepareFunction',
    description: 'Stores a program and presigns its code and result URLs for the sandbox task',
    memoryMb: 256,
    timeoutSeconds: 30,
  },
  {
    id: 'sandbox-collect',
    variable: 'SandboxCollectFunction',
    description: 'Reads a sandbox result; records output, exit code and compute cost',
    memoryMb: 512,
    timeoutSeconds: 60,
  },
];

/** Substitution variables that name infrastructure rather than a Lambda activity. */
export const RESOURCE_VARIABLES = [
  'SandboxCluster',
  'SandboxTaskDefinition',
  'SandboxSubnets',
  'SandboxSecurityGroup',
] as const;

/** Every variable an ASL file may reference. */
export function knownVariables(): string[] {
  return [...ACTIVITIES.map((a) => a.variable), ...RESOURCE_VARIABLES];
}

/** Finds the `${Name}` variables used in an ASL text. */
export function findVariables(aslText: string): string[] {
  return [...new Set([...aslText.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))].sort();
}

/**
 * Replaces every `${Name}` in an ASL text; throws naming each variable that has no value.
 * @example substitute(text, { LlmInvokeFunction: 'arn:aws:lambda:...:function:llm-invoke' })
 */
export function substituteVariables(
  aslText: string,
  values: Readonly<Record<string, string>>,
  source = 'ASL',
): string {
  const missing = findVariables(aslText).filter((v) => !(v in values));
  if (missing.length > 0) {
    throw new Error(
      `${source}: unknown substitution variable(s) ${missing.map((m) => `\${${m}}`).join(', ')}; known: ${Object.keys(values).sort().join(', ')}`,
    );
  }
  return aslText.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => values[name]!);
}
