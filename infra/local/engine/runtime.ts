import { join, resolve } from 'node:path';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import { LocalSandbox } from '#local/engine/sandbox/local-sandbox';
import { closeRuntime, createRuntime, type Runtime, setRuntime } from '#local/engine/wiring';
import type { Config } from '#shared/config';
import { executionRecorded } from '#shared/middleware/step-tracking';
import type { WorkflowEngine } from '#shared/ports/engine';
import { inputSchemaFileOf, readInputSchema } from '#shared/workflow-inputs';
import { ACTIVITIES } from '../../activities.ts';
import { DYNAMODB_TABLES_FILE } from './integrations/dynamodb-embedded.ts';
import { ECS_RUN_TASK_SYNC, ecsRunTaskIntegration } from './integrations/ecs-run-task.ts';
import { AwsIntegrations } from './integrations/resolver.ts';
import {
  type LambdaHandler,
  type LocalFunction,
  type LocalIntegration,
  LocalOrchestrator,
} from './orchestrator.ts';
import { type WorkflowChange, watchWorkflows } from './workflow-watcher.ts';
import { loadWorkflows, localFunctionArn } from './workflows.ts';

/** The embedded target: shared runtime (store, providers) + local orchestrator + engine port over it. */
export interface LocalRuntime {
  readonly runtime: Runtime;
  readonly orchestrator: LocalOrchestrator;
  readonly engine: WorkflowEngine;
  /** The local sandbox behind `ecs:runTask.sync` (bubblewrap; unsafe fallback only when configured). */
  readonly sandbox: LocalSandbox;
  close(): Promise<void>;
}

/** Imports every activity's handler module (its registry `entry`) and keys it by its local ARN. */
export async function loadLocalFunctions(): Promise<Map<string, LocalFunction>> {
  const entries = await Promise.all(
    ACTIVITIES.map(async (activity) => {
      const mod = (await import(`../../../${activity.entry}`)) as { handler?: LambdaHandler };
      if (typeof mod.handler !== 'function') throw new Error(`${activity.entry} does not export a handler`);
      return [localFunctionArn(activity.id), { activity, handler: mod.handler }] as const;
    }),
  );
  return new Map(entries);
}

/** Wraps the local orchestrator in the engine port the API uses. */
export function localEngine(orchestrator: LocalOrchestrator): WorkflowEngine {
  return {
    listWorkflows: async () =>
      [...orchestrator.workflows.values()].map((w) => ({
        name: w.name,
        description: w.description,
        // A stat per listing: the parsed, checked schema is kept until its file changes, so an edited
        // schema applies without a restart and an unchanged one is not read or compiled again.
        inputSchema: readInputSchema(inputSchemaFileOf(w.file)),
      })),
    startExecution: async (workflow, executionId, input) => {
      // The port is called once the execution's row is written.
      executionRecorded(executionId);
      orchestrator.start(workflow, executionId, input);
    },
    stopExecution: async (_workflow, executionId) => {
      orchestrator.cancel(executionId);
    },
    redriveExecution: async (_workflow, executionId) => {
      await orchestrator.redrive(executionId);
    },
    // No console on one machine: `wflo steps <id>` and GET /executions/{id}/steps are the view.
    consoleUrl: () => null,
  };
}

/**
 * Builds the embedded target from a config: opens the store (PGlite under `.wflo/` unless DATABASE_URL is
 * set), installs it as the process runtime the handlers use, loads `statemachines/*.asl.json`, and serves
 * `ecs:runTask.sync` with the local sandbox (`infra/local/engine/integrations/ecs-run-task.ts`; bubblewrap, or
 * without isolation when SANDBOX_UNSAFE_LOCAL is set and bubblewrap is missing). Integrations passed in
 * replace the defaults for the same Task Resource.
 */
export async function createLocalRuntime(
  config: Config,
  options: {
    retryIntervalScale?: number;
    statemachinesDir?: string;
    /** Local service integrations by Task Resource (see infra/local/engine/integrations). */
    integrations?: ReadonlyMap<string, LocalIntegration>;
    /**
     * Watch the workflow folder (`wflo dev`): files are loaded, reloaded and refused one by one, each change
     * reported here, instead of the whole folder loading once and any bad file failing the start.
     */
    onWorkflowChange?: (change: WorkflowChange) => void;
    /**
     * Drive the runs no live process drives (`wflo dev`, `wflo run`): resume them now, keep this process's
     * leases alive, and on a shared PostgreSQL keep taking over runs whose owner died. Closing then lets go of
     * unfinished runs (the next process resumes them) instead of waiting for them.
     */
    durable?: boolean;
    /** Told what the start is doing (opening the store, resuming runs). */
    onProgress?: (message: string) => void;
  } = {},
): Promise<LocalRuntime> {
  const dir = resolve(options.statemachinesDir ?? config.statemachinesDir);
  const workflows = options.onWorkflowChange ? new Map() : loadWorkflows(dir);
  // A broken input schema is a load error naming its file, like a broken ASL file.
  for (const w of workflows.values()) readInputSchema(inputSchemaFileOf(w.file));
  const functions = await loadLocalFunctions();
  const runtime = await createRuntime(config);
  setRuntime(runtime);
  const sandbox = new LocalSandbox({
    unsafeLocalSandbox: config.sandbox.unsafeLocal,
    maxConcurrent: config.sandbox.maxConcurrent,
  });
  const artifacts = runtime.artifacts;
  const integrations = new Map<string, LocalIntegration>([
    [
      ECS_RUN_TASK_SYNC,
      ecsRunTaskIntegration({
        sandbox,
        ...(artifacts instanceof LocalArtifacts ? { filePath: (url: string) => artifacts.pathOf(url) } : {}),
        taskSize: { cpu: config.sandbox.cpu, memoryMiB: config.sandbox.memoryMiB },
      }),
    ],
    ...(options.integrations ?? []),
  ]);
  // AWS service integrations: configured endpoints, else embedded (DynamoDB's data beside the store's).
  const aws = new AwsIntegrations({
    store: runtime.store,
    dynamoDb: {
      ...(config.dataDir === 'memory://' ? {} : { dir: join(config.dataDir, 'dynamodb') }),
      tablesFile: join(dir, DYNAMODB_TABLES_FILE),
    },
  });
  const orchestrator = new LocalOrchestrator({
    workflows,
    functions,
    store: runtime.store,
    retryIntervalScale: options.retryIntervalScale ?? 1,
    integrations,
    aws,
    leaseMs: config.engine.leaseSeconds * 1000,
  });
  const watcher = options.onWorkflowChange
    ? watchWorkflows(dir, orchestrator, { onChange: options.onWorkflowChange })
    : undefined;
  if (options.durable) {
    // PGlite is one process's (data-dir-owner.ts): every run left running is this process's to resume.
    const exclusive = runtime.store.kind === 'pglite';
    const resumed = await orchestrator.resumeOrphans({ exclusive });
    if (resumed.length > 0) options.onProgress?.(`resuming ${resumed.length} run(s) left running`);
    orchestrator.startLeases({ sweep: !exclusive });
  }
  return {
    runtime,
    orchestrator,
    engine: localEngine(orchestrator),
    sandbox,
    close: async () => {
      watcher?.close();
      await orchestrator.close();
      if (options.durable) await orchestrator.detachAll();
      else await orchestrator.drain();
      await aws.close();
      // The runtime was installed process-wide for the handlers; closing it also uninstalls it.
      await closeRuntime();
    },
  };
}
