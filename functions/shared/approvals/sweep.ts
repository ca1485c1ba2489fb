import type { ApprovalStore } from '../ports/approvals.ts';

/** How often the embedded runtime sweeps for expired approvals (AWS: an EventBridge schedule, every minute). */
export const LOCAL_APPROVAL_SWEEP_MS = 5_000;

/**
 * Marks every pending approval whose expiry has passed (at `now`) as `expired`, with one `approval.expired`
 * each. The Task's own TimeoutSeconds fails the waiting run at the same moment, but nothing tells the record:
 * without a sweep it would say `pending` until someone next read or decided it. A sweep that races a late
 * decision's `TaskTimedOut` (which also marks it) or another sweep changes the approval once: each adapter's
 * write is conditional on `pending`.
 */
export async function sweepExpiredApprovals(
  approvals: ApprovalStore,
  now?: Date,
): Promise<{ readonly expired: readonly string[] }> {
  return { expired: await approvals.expireDue(now) };
}

/**
 * The embedded runtime's sweeper: {@link sweepExpiredApprovals} every `intervalMs` (one sweep at a time; a
 * failed sweep is reported and the next one tries again). Returns a function that stops it and waits for a
 * sweep in flight.
 */
export function startApprovalSweeper(
  approvals: ApprovalStore,
  options: {
    readonly intervalMs?: number;
    readonly now?: () => Date;
    readonly onSwept?: (expired: readonly string[]) => void;
    readonly onError?: (error: unknown) => void;
  } = {},
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = sweepExpiredApprovals(approvals, options.now?.())
      .then(({ expired }) => {
        if (expired.length > 0) options.onSwept?.(expired);
      })
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => {
        running = undefined;
      });
  }, options.intervalMs ?? LOCAL_APPROVAL_SWEEP_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
