/**
 * The API a command talks to instead of opening the embedded runtime itself: the deployed one (`--api-url`,
 * signed with SigV4), or the local `wflo dev` that owns the embedded data directory (plain HTTP).
 */
export interface ApiTarget {
  readonly url: string;
  readonly signed: boolean;
}

/** The fetch for a target: SigV4-signed for the deployed API, plain for a local one. */
export async function targetFetch(target: ApiTarget) {
  const { localFetch, signedFetch } = await import('./api-client.ts');
  return target.signed ? signedFetch(target.url) : localFetch(target.url);
}

/** Commands that go through the owner's API when another process holds the embedded data directory. */
export const OWNER_AWARE: ReadonlySet<string> = new Set([
  'run',
  'executions',
  'watch',
  'steps',
  'costs',
  'workflows',
  'cancel',
  'redrive',
  'approvals',
  'approve',
  'reject',
  'task-success',
  'task-failure',
  'task-heartbeat',
]);

/**
 * When a live `wflo dev` owns the embedded data directory, its API (so `wflo run` next to it submits there
 * and no row is lost); when another process without an API owns it, a refusal naming that process.
 */
export async function ownerTarget(): Promise<ApiTarget | undefined> {
  const { loadConfig } = await import('#shared/config');
  const config = loadConfig();
  if (config.store.kind !== 'pglite' || config.dataDir === 'memory://') return undefined;
  const { currentOwner, DataDirBusyError } = await import('../engine/data-dir-owner.ts');
  const owner = currentOwner(config.dataDir);
  if (!owner) return undefined;
  if (!owner.url) throw new DataDirBusyError(config.dataDir, owner);
  console.error(`wflo: using ${owner.command} at ${owner.url} (it owns ${config.dataDir})`);
  return { url: owner.url, signed: false };
}
