import type { Config } from '../config.ts';
import type { LlmProvider } from '../llm/types.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import type { ArtifactStore } from '../ports/artifacts.ts';
import type { ResponseCache } from '../ports/cache.ts';
import type { FencedDocuments, LockManager } from '../ports/lock.ts';
import type { Store } from '../ports/store.ts';
import type { PriceTable } from '../pricing/pricing.ts';

/**
 * Every part a handler may need, built together by the local target and the tests
 * (infra/local/engine/wiring.ts → createRuntime) and installed with {@link installRuntime}.
 */
export interface Runtime {
  readonly config: Config;
  readonly store: Store;
  readonly prices: PriceTable;
  /** Providers by id (`scripted`, `openai-compatible`, `bedrock`, `anthropic`). */
  readonly providers: ReadonlyMap<string, LlmProvider>;
  /** Response cache (already wrapped to fail open). */
  readonly cache: ResponseCache;
  /** Sandbox code and results: S3 on AWS, a directory locally. */
  readonly artifacts: ArtifactStore;
  /** Locks with fencing: Redis/Valkey when configured, the store's table otherwise. */
  readonly locks: LockManager;
  /** Documents only the newest lock holder may write (fencing tokens checked by the store). */
  readonly documents: FencedDocuments;
  /** Pending approvals and their decisions (the store's table, or DynamoDB with the store as audit copy). */
  readonly approvals: ApprovalStore;
  close(): Promise<void>;
}

let installed: Promise<Runtime> | undefined;

/** Installs a runtime built elsewhere (the local target and tests): every part then comes from it. */
export function installRuntime(runtime: Runtime | Promise<Runtime>): void {
  installed = Promise.resolve(runtime);
}

/** Forgets the installed runtime and hands it back (to be closed by the caller). */
export function uninstallRuntime(): Promise<Runtime> | undefined {
  const r = installed;
  installed = undefined;
  return r;
}

/**
 * One lazily built, process-wide part of a handler's dependencies (a store, an S3 adapter, …). On Lambda
 * it is built on first use and kept for the container's life; a failed build is retried by the next call
 * instead of poisoning the container. When a runtime is installed (the local target, tests), the part is
 * taken from it instead, so every handler shares its store.
 *
 * Each part lives in its own wiring module importing only its own clients, so a handler's bundle holds only
 * the parts it asks for (see functions/shared/wiring/*.ts).
 */
export function lazyPart<T>(fromRuntime: (runtime: Runtime) => T, build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    if (installed) return installed.then(fromRuntime);
    built ??= build().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
}
