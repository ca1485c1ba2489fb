import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AslDefinition, validateAsl } from './asl.ts';
import { placeholderBindings } from './bindings.ts';
import { findVariables, substituteVariables, type WorkflowFile } from './files.ts';
import { analyzeIntegrations, type WorkflowIntegrations } from './integrations.ts';
import { assertHouseRules } from './lint.ts';
import { assertQueryLanguage } from './query-language.ts';
import { assertRetryCatchRules } from './retry-rules.ts';
import { withTransitionBounds } from './transition-bounds.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAMBDA_ARN = /^arn:aws:lambda:[^:]+:\d{12}:function:/;

/** A workflow file that passed every check, ready for either target. */
export interface CheckedWorkflow {
  readonly name: string;
  /** How errors name the file: relative to the repository when inside it (`statemachines/hello.asl.json`). */
  readonly source: string;
  /** Top-level Comment. */
  readonly description: string;
  /** The definition as written (`${Variables}` unsubstituted). */
  readonly raw: AslDefinition;
  /**
   * `raw` with each Lambda Task's transition bound in its Payload (transition-bounds.ts): what CDK deploys
   * with DefinitionSubstitutions.
   */
  readonly deployed: AslDefinition;
  /** The definition with the target's bindings substituted, bounds included: what the local engine runs. */
  readonly definition: AslDefinition;
  /** The `${Variables}` the file uses. */
  readonly variables: readonly string[];
  readonly integrations: WorkflowIntegrations;
  /**
   * With `target: 'local'`: why `cdk synth` would refuse the file although the local engine may run it (an
   * integration the CDK app cannot grant precisely); empty when it deploys as it is.
   */
  readonly deployProblems: readonly string[];
}

/** Which target a check is for: `deploy` refuses what the CDK app cannot grant; `local` only reports it. */
export interface CheckOptions {
  /** @default 'deploy' */
  readonly target?: 'deploy' | 'local';
}

/** How messages name a file: repository-relative when inside the repository, else as given. */
export function sourceOf(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(REPO_ROOT, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * The one check a workflow file passes before either target takes it, in order, each failure naming the file:
 * every `${Var}` has a binding (the error names it), the text is JSON, asl-validator accepts it, it keeps the
 * house rules (lint.ts), and every integration it calls can be granted precisely (integrations.ts).
 * @param bindings values substituted before validation; @default placeholders for every known variable
 */
export function checkWorkflow(
  file: WorkflowFile,
  bindings = placeholderBindings(),
  options: CheckOptions = {},
): CheckedWorkflow {
  const source = sourceOf(file.path);
  const substituted = substituteVariables(file.text, bindings, source);
  let definition: AslDefinition;
  let raw: AslDefinition;
  try {
    definition = JSON.parse(substituted) as AslDefinition;
    raw = JSON.parse(file.text) as AslDefinition;
  } catch (cause) {
    throw new Error(`${source}: not valid JSON`, { cause });
  }
  // Before asl-validator: its schema errors would not say which state mixes the two languages.
  assertQueryLanguage(source, definition);
  validateAsl(definition, source);
  assertRetryCatchRules(source, definition);
  // The variables bound to a function ARN are the ones a Lambda Task may name (the activities, on both targets).
  const functionVariables = Object.keys(bindings).filter((k) => LAMBDA_ARN.test(bindings[k]!));
  assertHouseRules(source, raw, functionVariables);
  // The grant rules are the deploy target's: the local engine runs more (AWS service integrations, nested runs)
  // and refuses, naming the state, what it cannot run when the orchestrator loads the workflow.
  let integrations: WorkflowIntegrations = { lambdaVariables: [], ecsRunTask: undefined };
  const deployProblems: string[] = [];
  try {
    integrations = analyzeIntegrations(source, raw, functionVariables);
  } catch (error) {
    if (options.target !== 'local') throw error;
    deployProblems.push((error as Error).message);
  }
  return {
    name: file.name,
    source,
    description: typeof raw.Comment === 'string' ? raw.Comment : '',
    raw,
    deployed: withTransitionBounds(raw),
    definition: withTransitionBounds(definition),
    variables: findVariables(file.text),
    integrations,
    deployProblems,
  };
}
