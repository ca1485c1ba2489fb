import { StoreUnavailableError } from '../errors.ts';

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs a store write that must not be lost (a paid model call's settlement) until it succeeds: a
 * {@link StoreUnavailableError} is retried with capped exponential back-off (100 ms doubling to 5 s) for as
 * long as `signal` (the invocation's deadline) allows; any other error, or the deadline, ends the attempts
 * with the last error. The write must be idempotent (the ledger's idempotency key makes recordCost so).
 */
export async function untilWritten<T>(
  write: () => Promise<T>,
  options: { signal?: AbortSignal | undefined; sleep?: ((ms: number) => Promise<void>) | undefined } = {},
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || options.signal?.aborted) throw error;
      await sleep(Math.min(100 * 2 ** attempt, 5_000));
      if (options.signal?.aborted) throw error;
    }
  }
}
