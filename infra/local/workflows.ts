import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import aslValidator from 'asl-validator';
import { ACTIVITIES, findVariables, RESOURCE_VARIABLES, substituteVariables } from '../activities.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';

/** The local stand-in ARN of an activity's function; the orchestrator routes it to the in-process handler. */
export function localFunctionArn(activityId: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:wflo-local-${activityId}`;
}

/** Substitution values for the embedded target: activities → local ARNs; infrastructure → local names. */
export function localSubstitutions(): Record<string, string> {
  const values: Record<string, string> = {};
  for (const a of ACTIVITIES) values[a.variable] = localFunctionArn(a.id);
  for (const v of RESOURCE_VARIABLES) values[v] = `local-${v}`;
  return values;
}

/** Any state with a name, as found while walking a definition. */
export interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Retry?: Retrier[];
  Catch?: unknown[];
  TimeoutSeconds?: number;
  Iterator?: AslDefinition;
  ItemProcessor?: AslDefinition;
  Branches?: AslDefinition[];
  [key: string]: unknown;
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  Comment?: string;
  [key: string]: unknown;
}
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

/** A workflow as loaded from `statemachines/<name>.asl.json`. */
export interface Workflow {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  readonly definition: AslDefinition;
  readonly variables: readonly string[];
}

/**
 * Visits every state of a definition, including Map iterators (ItemProcessor/Iterator) and Parallel branches.
 * State names are unique across a whole state machine, so the name identifies the state.
 */
export function walkStates(definition: AslDefinition, visit: (name: string, state: AslState) => void): void {
  for (const [name, state] of Object.entries(definition.States)) {
    visit(name, state);
    const nested = [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter(
      (d): d is AslDefinition => d !== undefined,
    );
    for (const d of nested) walkStates(d, visit);
  }
}

/** Validates an ASL definition with asl-validator; throws with every error. */
export function validateAsl(definition: unknown, source: string): void {
  const { isValid, errorsText } = aslValidator(definition as Parameters<typeof aslValidator>[0]);
  if (!isValid) throw new Error(`${source}: invalid ASL: ${errorsText('\n')}`);
}

/** Loads one ASL file: substitute `${Vars}` (unknown ones fail by name), parse, validate. */
export function loadWorkflowFile(
  file: string,
  substitutions: Record<string, string> = localSubstitutions(),
): Workflow {
  const name = basename(file).replace(/\.asl\.json$/, '');
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
    throw new Error(`${file}: workflow file names must be kebab-case (got '${name}')`);
  }
  const text = readFileSync(file, 'utf8');
  const substituted = substituteVariables(text, substitutions, file);
  let definition: AslDefinition;
  try {
    definition = JSON.parse(substituted) as AslDefinition;
  } catch (cause) {
    throw new Error(`${file}: not valid JSON`, { cause });
  }
  validateAsl(definition, file);
  return { name, description: definition.Comment ?? '', file, definition, variables: findVariables(text) };
}

/** Loads every `*.asl.json` in a folder, sorted by name. */
export function loadWorkflows(dir: string, substitutions?: Record<string, string>): Map<string, Workflow> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.asl.json'))
    .sort();
  return new Map(files.map((f) => loadWorkflowFile(join(dir, f), substitutions)).map((w) => [w.name, w]));
}
