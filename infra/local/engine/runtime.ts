import { join, resolve } from 'node:path';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import { LocalSandbox } from '#local/engine/sandbox/local-sandbox';
import { closeRuntime, createRuntime, type Runtime, setRuntime } from '#local/engine/wiring';
import { LOCAL_APPROVAL_SWEEP_MS, startApprovalSweeper } from '#shared/approvals/sweep';
import type { Config } from '#shared/config';
import { executionRecorded } from '#shared/middleware/step-tracking';
import { logger } from '#shared/observability';
import type { WorkflowEngine } from '#shared/ports/engine';
import { inputSchemaFileOf, readInputSchema } from '#shared/workflow-inputs';
import { ACTIVITIES } from '../../activities.ts';
import type { DbConnection } from './db/client.ts';
import { DYNAMODB_TABLES_FILE } from './integrations/dynamodb-embedded.ts';
import { ECS_RUN_TASK_SYNC, ecsRunTaskIntegration } from './integrations/ecs-run-task.ts';
import { AwsIntegrations } from './integrations/resolver.ts';
import { LocalS3 } from './integrations/s3.ts';
import {
  type LambdaHandler,
  type LocalFunction,
  type LocalIntegration,
  LocalOrchestrator,
} from './orchestrator.ts';
import { startupStep, timedStartupStep } from './startup-timing.ts';
import { type WorkflowChange, watchWorkflows } from './workflow-watcher.ts';
import { loadWorkflows, localFunctionArn } from './workflows.ts';

/** The embedded target: shared runtime (store, providers) + local orchestrator + engine port over it. */
export interface LocalRuntime {
  readonly runtime: Runtime;
  readonly orchestrator: LocalOrchestrator;
  readonly engine: WorkflowEngine;
  /** The local sandbox behind `ecs:runTask.sync` (bubblewrap; unsafe fallback only when configured). */
  readonly sandbox: LocalSandbox;
  /**
   * With `resumeWhileServing`: resumes the runs found left running at start (listed before this runtime was
   * returned) and resolves with their ids; call it once the API serves. Undefined otherwise.
   */
  readonly resumeLeftRunning?: () => Promise<string[]>;
  close(): Promise<void>;
}

/** The registry's handler folder: the one folder the local runtime imports handlers from. */
const HANDLER_DIR = 'functions/activities/';

/** Imports every activity's handler module (its registry `entry`) and keys it by its local ARN. */
export async function loadLocalFunctions(): Promise<Map<string, LocalFunction>> {
  const entries = await Promise.all(
    ACTIVITIES.map(async (activity) => {
      const name = activity.entry.slice(HANDLER_DIR.length, -'.ts'.length);
      if (!activity.entry.startsWith(HANDLER_DIR) || name.includes('/') || !activity.entry.endsWith('.ts')) {
        throw new Error(`${activity.entry}: an activity's handler must be a ${HANDLER_DIR}<name>.ts file`);
      }
      // The folder and extension are literal so that the prebuilt CLI (infra/local/bin/cli-build.mjs) bundles
      // exactly that folder's handlers: esbuild turns an import() whose template starts with a folder into a
      // table of the files matching it. With `../../../${entry}` it would try to bundle the whole repository.
      const mod = (await import(`../../../functions/activities/${name}.ts`)) as { handler?: LambdaHandler };
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
    /**
     * With `durable`: list the runs left running now but resume them only when {@link
     * LocalRuntime.resumeLeftRunning} is called, so `wflo dev` serves at once instead of after every resume.
     */
    resumeWhileServing?: boolean;
    /**
     * The store's connection, already being opened for this config (see {@link openStoreEarly}); opened here
     * when absent.
     */
    opening?: Promise<DbConnection>;
    /** Sweep approvals past their expiry to `expired` this often; 0: never. @default LOCAL_APPROVAL_SWEEP_MS */
    approvalSweepMs?: number;
  } = {},
): Promise<LocalRuntime> {
  const dir = resolve(options.statemachinesDir ?? config.statemachinesDir);
  const loadedWorkflows = options.onWorkflowChange ? undefined : startupStep('workflows (read + check)');
  const workflows = options.onWorkflowChange ? new Map() : loadWorkflows(dir);
  // A broken input schema is a load error naming its file, like a broken ASL file.
  for (const w of workflows.values()) readInputSchema(inputSchemaFileOf(w.file));
  loadedWorkflows?.();
  // The handler modules load (transpiled on tsx's loader thread) while the store opens: the two longest
  // steps of a start, on an existing PGlite directory, no longer wait for each other.
  const [loaded, opened] = await Promise.allSettled([
    timedStartupStep('activity handler modules', loadLocalFunctions),
    options.opening
      ? createRuntime(config, options.opening)
      : timedStartupStep('store open + migrations', createRuntime(config)),
  ]);
  if (loaded.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.close();
    throw loaded.reason;
  }
  if (opened.status === 'rejected') throw opened.reason;
  const functions = loaded.value;
  const runtime = opened.value;
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
    // The embedded S3 (ItemReader, ResultWriter, aws-sdk:s3:*) lives next to the artifacts, so it survives restarts.
    ...(artifacts instanceof LocalArtifacts ? { s3: new LocalS3(join(artifacts.root, 's3')) } : {}),
    aws,
    leaseMs: config.engine.leaseSeconds * 1000,
  });
  const watched = options.onWorkflowChange ? startupStep('workflows (read + check)') : undefined;
  const watcher = options.onWorkflowChange
    ? watchWorkflows(dir, orchestrator, { onChange: options.onWorkflowChange })
    : undefined;
  watched?.();
  let resumeLeftRunning: (() => Promise<string[]>) | undefined;
  let resuming: Promise<unknown> | undefined;
  if (options.durable) {
    // PGlite is one process's (data-dir-owner.ts): every run left running is this process's to resume.
    const exclusive = runtime.store.kind === 'pglite';
    // Listed before anything serves, so a run this process's API accepts is never taken for a left one.
    const orphans = await timedStartupStep('list runs left running', orchestrator.findOrphans({ exclusive }));
    if (orphans.length > 0) options.onProgress?.(`resuming ${orphans.length} run(s) left running`);
    if (options.resumeWhileServing) {
      resumeLeftRunning = () => {
        const p = orchestrator.resume(orphans);
        resuming = p.catch(() => undefined);
        return p;
      };
    } else {
      await orchestrator.resume(orphans);
    }
    orchestrator.startLeases({ sweep: !exclusive });
  }
  // The Task's TimeoutSeconds fails a waiting run on time; this makes its approval record say so (as the
  // scheduled approval-sweeper Lambda does on AWS).
  const sweepMs = options.approvalSweepMs ?? LOCAL_APPROVAL_SWEEP_MS;
  const stopSweeper =
    sweepMs > 0
      ? startApprovalSweeper(runtime.approvals, {
          intervalMs: sweepMs,
          onError: (error) => logger.warn('could not sweep expired approvals', { error: error as Error }),
        })
      : undefined;
  return {
    runtime,
    orchestrator,
    engine: localEngine(orchestrator),
    sandbox,
    ...(resumeLeftRunning ? { resumeLeftRunning } : {}),
    close: async () => {
      await stopSweeper?.();
      watcher?.close();
      await orchestrator.close();
      // A resume still going stops at its next run (the orchestrator is closed); the ones it started are let go below.
      await resuming;
      if (options.durable) await orchestrator.detachAll();
      else await orchestrator.drain();
      await aws.close();
      // The runtime was installed process-wide for the handlers; closing it also uninstalls it.
      await closeRuntime();
    },
  };
}
