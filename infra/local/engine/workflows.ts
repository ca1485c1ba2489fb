import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '#shared/observability';
import type { AslDefinition } from '../../workflows/asl.ts';
import { localBindings } from '../../workflows/bindings.ts';
import { checkWorkflow } from '../../workflows/check.ts';
import { isWorkflowFile, readWorkflowFile } from '../../workflows/files.ts';

// The local engine's view of the one workflow module (infra/workflows/): re-exported so its callers keep one import.
export type { AslDefinition, AslState, Retrier } from '../../workflows/asl.ts';
export { walkStates } from '../../workflows/asl.ts';
export { LOCAL_ACCOUNT, LOCAL_REGION, localFunctionArn } from '../../workflows/bindings.ts';

/** A workflow as loaded from `statemachines/<name>.asl.json`. */
export interface Workflow {
  readonly name: string;
  readonly description: string;
  readonly file: string;
  /** The definition with the local bindings substituted. */
  readonly definition: AslDefinition;
  readonly variables: readonly string[];
  /** Why `cdk synth` would refuse this file though it runs here (see CheckedWorkflow.deployProblems). */
  readonly deployProblems?: readonly string[];
}

/**
 * Loads one ASL file through the same check `cdk synth` runs (infra/workflows/check.ts): name rule, `${Vars}`
 * (unknown ones fail by name), JSON, asl-validator and the house rules. The integration grant rules are only
 * reported (`deployProblems`, logged as a warning): what the local engine can run is the orchestrator's to say
 * when it loads the workflow, so a user's ASL calling SNS or DynamoDB runs here before it has a grant rule.
 */
export function loadWorkflowFile(
  file: string,
  substitutions: Record<string, string> = localBindings(),
): Workflow {
  const wf = readWorkflowFile(file);
  const checked = checkWorkflow(wf, substitutions, { target: 'local' });
  for (const problem of checked.deployProblems) {
    logger.warn('workflow runs locally but cdk synth would refuse it', { file, problem });
  }
  return {
    name: wf.name,
    description: checked.description,
    file,
    definition: checked.definition,
    variables: checked.variables,
    deployProblems: checked.deployProblems,
  };
}

/** Loads every `*.asl.json` in a folder, sorted by name. */
export function loadWorkflows(dir: string, substitutions?: Record<string, string>): Map<string, Workflow> {
  const files = readdirSync(dir).filter(isWorkflowFile).sort();
  return new Map(files.map((f) => loadWorkflowFile(join(dir, f), substitutions)).map((w) => [w.name, w]));
}
