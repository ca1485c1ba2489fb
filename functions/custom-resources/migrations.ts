import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';
import { migrateDataApi, openDataApi } from '#shared/db/data-api';

/** Errors that mean "Aurora is waking up (auto-pause) or the Data API is not ready yet": retry. */
const TRANSIENT =
  /DatabaseResumingException|DatabaseNotFoundException|Communications link failure|is resuming after being auto-paused|ServiceUnavailable|ThrottlingException|TooManyRequests/i;

/** Delay between attempts; overridable for tests. */
export const retryPolicy = { attempts: 12, delayMs: 10_000 };

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.name}: ${error.cause.message})` : '';
  return `${error.name}: ${error.message}${cause}`;
}

async function withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const text = describe(error);
      if (attempt >= retryPolicy.attempts || !TRANSIENT.test(text)) throw error;
      console.warn(
        JSON.stringify({ level: 'WARN', message: `${what} failed, retrying`, attempt, error: text }),
      );
      await new Promise((r) => setTimeout(r, retryPolicy.delayMs));
    }
  }
}

/**
 * Deploy-time custom resource (CDK Provider framework onEvent handler): applies the bundled Drizzle SQL
 * migrations (copied next to the bundle as `migrations/`) to Aurora through the RDS Data API.
 * Create and Update migrate (idempotent: Drizzle records applied migrations); Delete leaves the data alone.
 */
export async function handler(event: CdkCustomResourceEvent): Promise<CdkCustomResourceResponse> {
  const props = event.ResourceProperties as unknown as {
    ClusterArn: string;
    SecretArn: string;
    Database: string;
    MigrationsHash: string;
  };
  const physicalResourceId = `wflo-migrations:${props.Database}`;
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId };
  for (const key of ['ClusterArn', 'SecretArn', 'Database'] as const) {
    if (!props[key]) throw new Error(`missing resource property ${key}`);
  }
  // The Data API driver alone (never the any-driver infra/local/engine/db/client.ts): this bundle must not reach PGlite or pg.
  const conn = await openDataApi({
    kind: 'data-api',
    resourceArn: props.ClusterArn,
    secretArn: props.SecretArn,
    database: props.Database,
  });
  await withRetry('migrate', () => migrateDataApi(conn));
  console.log(JSON.stringify({ level: 'INFO', message: 'migrations applied', hash: props.MigrationsHash }));
  return { PhysicalResourceId: physicalResourceId, Data: { MigrationsHash: props.MigrationsHash } };
}
