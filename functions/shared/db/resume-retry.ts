import type { FinalizeRequestMiddleware, MetadataBearer } from '@smithy/types';

/** What Aurora Serverless v2 answers while it wakes from auto-pause (min capacity 0). */
export function isResuming(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'DatabaseResumingException' || /resuming after being auto-paused/i.test(error.message))
  );
}

/**
 * An AWS SDK middleware for the RDS Data API client: a statement refused because the cluster is resuming
 * never ran, so it is sent again, with backoff, for up to `maxWaitMs` (Aurora resumes in ~15 s).
 */
export function retryWhileResuming<Input extends object, Output extends MetadataBearer>(
  options: { maxWaitMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): FinalizeRequestMiddleware<Input, Output> {
  const maxWaitMs = options.maxWaitMs ?? 45_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return (next) => async (args) => {
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await next(args);
      } catch (error) {
        const delay = Math.min(500 * 2 ** attempt, 5_000);
        if (!isResuming(error) || waited + delay > maxWaitMs) throw error;
        await sleep(delay);
        waited += delay;
      }
    }
  };
}
