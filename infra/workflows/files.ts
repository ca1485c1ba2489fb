import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder of the workflow definitions, relative to the repository root. */
export const STATEMACHINES_DIR = 'statemachines';
/** Every workflow file ends so; the name before it is the workflow's. */
export const WORKFLOW_FILE_SUFFIX = '.asl.json';

/**
 * The one rule for a workflow name, for `wflo dev` and `cdk synth` alike: kebab-case, starting with a letter
 * or digit (`2fa-check` is fine), at most 41 characters so `<prefix>-<name>` stays within the state machine
 * and log group name limits.
 */
export const WORKFLOW_NAME = /^[a-z0-9][a-z0-9-]{0,40}$/;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One `<name>.asl.json` file, as read from disk. */
export interface WorkflowFile {
  /** Workflow name = file name without `.asl.json` (see {@link WORKFLOW_NAME}). */
  readonly name: string;
  readonly path: string;
  readonly text: string;
}

/** Whether a directory entry is a workflow file at all (other files in the folder are ignored). */
export function isWorkflowFile(fileName: string): boolean {
  return fileName.endsWith(WORKFLOW_FILE_SUFFIX);
}

/** The workflow name of a file path; throws, naming the file and the rule, when it cannot name a workflow. */
export function workflowNameOf(path: string): string {
  const name = basename(path, WORKFLOW_FILE_SUFFIX);
  if (!WORKFLOW_NAME.test(name)) {
    throw new Error(
      `${path}: workflow names must be kebab-case (a-z, 0-9, -; not starting with -), at most 41 characters (got '${name}')`,
    );
  }
  return name;
}

/** Reads one workflow file (its name checked first). */
export function readWorkflowFile(path: string): WorkflowFile {
  return { name: workflowNameOf(path), path, text: readFileSync(path, 'utf8') };
}

/** Every workflow file of a folder, sorted by name. Fails on a file name that cannot name a workflow. */
export function listWorkflowFiles(dir = join(REPO_ROOT, STATEMACHINES_DIR)): WorkflowFile[] {
  return readdirSync(dir)
    .filter(isWorkflowFile)
    .sort()
    .map((f) => readWorkflowFile(join(dir, f)));
}

const VARIABLE_REF = /\$\{([A-Za-z0-9_]+)\}/g;

/** Finds the `${Name}` variables used in an ASL text, sorted. */
export function findVariables(aslText: string): string[] {
  return [...new Set([...aslText.matchAll(VARIABLE_REF)].map((m) => m[1]!))].sort();
}

/**
 * Replaces every `${Name}` in an ASL text; throws naming each variable that has no value.
 * @example substituteVariables(text, { LlmInvokeFunction: 'arn:aws:lambda:...:function:llm-invoke' })
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
  return aslText.replace(VARIABLE_REF, (_, name: string) => values[name]!);
}
