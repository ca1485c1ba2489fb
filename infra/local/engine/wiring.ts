import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3Artifacts } from '#shared/adapters/s3-artifacts';
import { createApprovals } from '#shared/approvals/create-approvals';
import type { Config } from '#shared/config';
import { guardStore } from '#shared/db/errors';
import { createLocks } from '#shared/locks/create-locks';
import { storeFencedDocuments } from '#shared/locks/fenced';
import type { ArtifactStore } from '#shared/ports/artifacts';
import { createStore } from '#shared/store/create-store';
import { installRuntime, type Runtime, uninstallRuntime } from '#shared/wiring/lazy';
import { createCache, createProviders, loadPrices, withSecretApiKey } from '#shared/wiring/llm-parts';
import { LocalArtifacts } from './adapters/local-artifacts.ts';
import { type DbConnection, openDb } from './db/client.ts';

export type { Runtime } from '#shared/wiring/lazy';
export { createCache, createProviders, withSecretApiKey } from '#shared/wiring/llm-parts';

/*
 * The whole runtime at once, for the local target (`wflo dev`, infra/local/engine/runtime.ts) and the tests: any
 * store driver (PGlite, node-postgres, Data API), local or S3 artifacts, every provider. Lambda entry points
 * never import this module; each takes only the parts it uses from functions/shared/wiring/ (store.ts,
 * artifacts.ts, llm.ts, config.ts), which read the installed runtime when there is one.
 */

/** The artifact store the config selects (nothing is touched until it is used). */
export function createArtifacts(config: Config): ArtifactStore {
  return config.artifacts.kind === 's3'
    ? new S3Artifacts({ client: new S3Client({}), bucket: config.artifacts.bucket })
    : new LocalArtifacts(config.artifacts.dir);
}

/**
 * Opens the store (any driver) and builds every adapter for a config. `opening`: the store's connection
 * already being opened (`wflo dev` starts it first, so the slowest step of a start overlaps module loading).
 */
export async function createRuntime(configIn: Config, opening?: Promise<DbConnection>): Promise<Runtime> {
  const config = configIn.llm.secretArn
    ? await withSecretApiKey(configIn, new SecretsManagerClient({}))
    : configIn;
  const providers = createProviders(config);
  const prices = loadPrices(config, providers);
  const conn = await (opening ?? openDb(config.store));
  const store = guardStore(createStore(conn));
  const cache = createCache(config, conn.db);
  const locks = createLocks(config, conn.db);
  return {
    config,
    store,
    prices,
    providers,
    cache,
    artifacts: createArtifacts(config),
    locks,
    documents: storeFencedDocuments(conn.db),
    approvals: createApprovals(config, conn.db),
    close: async () => {
      await cache.close();
      await locks.close();
      await store.close();
    },
  };
}

/** Installs a runtime built elsewhere (the local runner and tests), so every handler shares its store. */
export function setRuntime(runtime: Runtime | Promise<Runtime>): void {
  installRuntime(runtime);
}

/** Closes and forgets the installed runtime. */
export async function closeRuntime(): Promise<void> {
  const r = uninstallRuntime();
  if (r) await (await r).close();
}
