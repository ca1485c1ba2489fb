import { readFileSync } from 'node:fs';
import type { DbConnection } from '../engine/db/client.ts';
import type { LocalRuntime } from '../engine/runtime.ts';
import { timedStartupStep } from '../engine/startup-timing.ts';
import { describeChange, type WorkflowChange } from '../engine/workflow-change.ts';

/* What every command shares: the usage error, --input parsing, and booting the embedded runtime. */

/** A wrong command line: printed with the usage text, exit status 2. */
export class UsageError extends Error {}

/** `--input`: inline JSON or `@file`; `{}` when absent. */
export function parseInput(value: string | undefined): unknown {
  if (value === undefined) return {};
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input is not valid JSON: ${(err as Error).message}`);
  }
}

const UNSAFE_WARNING =
  'WARNING: --unsafe-local-sandbox: where bubblewrap is missing, code that workflows run executes as a plain ' +
  'process with NO filesystem, network or process isolation: it can read your files and reach your network. ' +
  'Use it only for code you trust.';

/** Loads the config and starts the embedded runtime (the store, the engine, the sandbox). */
export async function boot(options: {
  /** What runs (`dev`, `run`, `read`): named in the data directory's claim. */
  command: string;
  unsafeLocalSandbox?: boolean;
  readOnly?: boolean;
  watch?: boolean;
  /** `wflo dev`: serve first, then resume the runs left running (see LocalRuntime.resumeLeftRunning). */
  resumeWhileServing?: boolean;
  /**
   * Say now whether code-running workflows can run (it runs `bwrap --help`, a blocking child process).
   * `wflo dev` passes false and calls {@link warnIfSandboxUnavailable} once it serves. @default true
   */
  checkSandbox?: boolean;
}) {
  const progress = (message: string) => {
    if (!options.readOnly) console.error(`wflo: ${message}`);
  };
  if (options.unsafeLocalSandbox) {
    process.env.SANDBOX_UNSAFE_LOCAL = 'true';
    console.error(UNSAFE_WARNING);
  }
  const { loadConfig } = await import('#shared/config');
  const config = loadConfig();
  // One process per embedded data directory (PGlite is single-process): claimed before it is opened.
  const claim =
    config.store.kind === 'pglite' && config.dataDir !== 'memory://'
      ? (await import('../engine/data-dir-owner.ts')).claimDataDir(config.dataDir, `wflo ${options.command}`)
      : undefined;
  let local: LocalRuntime;
  let opening: Promise<DbConnection> | undefined;
  try {
    progress(
      config.store.kind === 'pglite'
        ? `opening the store (PGlite at ${config.dataDir}) and applying migrations…`
        : 'connecting to PostgreSQL (DATABASE_URL) and applying migrations…',
    );
    // The store opens first (on an existing PGlite directory the longest step: its WebAssembly compiles
    // and PostgreSQL recovers) while the engine's modules, the handlers and the workflows load beside it.
    opening = timedStartupStep('store open + migrations', async () =>
      (await import('../engine/db/client.ts')).openDb(config.store),
    );
    // Awaited by the runtime below; a failure before that must not surface as an unhandled rejection.
    opening.catch(() => undefined);
    const { createLocalRuntime } = await timedStartupStep('engine modules', import('../engine/runtime.ts'));
    local = await timedStartupStep('runtime (store, handlers, workflows)', () =>
      createLocalRuntime(config, {
        opening: opening!,
        ...(options.watch ? { onWorkflowChange: logWorkflowChange } : {}),
        // Reading commands drive nothing; `dev` and `run` resume what a stopped process left running.
        durable: !options.readOnly,
        onProgress: progress,
        ...(options.resumeWhileServing ? { resumeWhileServing: true } : {}),
      }),
    );
  } catch (error) {
    // Opened but never handed to a runtime (a module failed to load): closed, so the claim's release is true.
    await opening?.then((conn) => conn.close()).catch(() => undefined);
    claim?.release();
    throw error;
  }
  // KAFKA_BROKERS set: the outbox is relayed to that broker while this process runs (read-only commands write
  // no events, so they relay nothing).
  // Without it the relay module (and the Kafka client it loads, seconds of a start) is not imported at all.
  const relay =
    options.readOnly || !config.kafka
      ? undefined
      : await timedStartupStep('event relay', async () =>
          (await import('../engine/event-relay.ts')).startLocalEventRelay(config, local.runtime.store),
        );
  const close = local.close.bind(local);
  local.close = async () => {
    try {
      await relay?.stop();
      await close();
    } finally {
      claim?.release();
    }
  };
  // Reading executions runs no code: the sandbox warning would only be noise there.
  if (!options.readOnly && options.checkSandbox !== false) warnIfSandboxUnavailable(local);
  return { config, local, claim };
}

/** `wflo dev` reloads statemachines/ as it changes: says what it did, or why it refused a file (also at start). */
function logWorkflowChange(change: WorkflowChange) {
  if (change.kind === 'refused') console.error(describeChange(change));
  else if (!change.initial) console.log(describeChange(change));
}

/** Says up front when the workflows that run code will be refused here, and what to do about it. */
export function warnIfSandboxUnavailable(local: LocalRuntime) {
  const runningCode = [...local.orchestrator.workflows.values()]
    .filter((w) => JSON.stringify(w.definition).includes('"arn:aws:states:::ecs:runTask'))
    .map((w) => w.name);
  if (runningCode.length === 0) return;
  try {
    if (local.sandbox.mode().kind === 'unsafe') {
      console.error('wflo: bubblewrap not found: code runs WITHOUT isolation (--unsafe-local-sandbox).');
    }
  } catch (error) {
    console.error(
      `wflo: ${(error as Error).message}\n  Until then, steps that run code fail (workflows: ${runningCode.join(', ')}).`,
    );
  }
}
