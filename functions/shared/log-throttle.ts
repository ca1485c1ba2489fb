/**
 * Lets the first of a stream of repeated reports through, then at most one per `intervalMs`, telling each
 * one let through how many were held back since the previous one: an outage that fails every request
 * (the response cache down under load) is reported a few times, not once per request.
 * @example const warn = throttle(10_000); warn((suppressed) => logger.warn('cache down', { suppressed }));
 */
export function throttle(
  intervalMs: number,
  now: () => number = Date.now,
): (report: (suppressed: number) => void) => void {
  let last = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (report) => {
    const t = now();
    if (t - last < intervalMs) {
      suppressed++;
      return;
    }
    last = t;
    const held = suppressed;
    suppressed = 0;
    report(held);
  };
}
