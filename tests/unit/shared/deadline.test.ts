import { describe, expect, it } from 'vitest';
import { DEADLINE_MARGIN_MS, deadlineSignal } from '#shared/middleware/activity';

describe('deadlineSignal', () => {
  it('aborts the margin before the invocation deadline', async () => {
    // Prepare: 80 ms left after the margin
    const t0 = performance.now();
    const signal = deadlineSignal({ getRemainingTimeInMillis: () => DEADLINE_MARGIN_MS + 80 });
    // Act
    const aborted = new Promise((resolve) => signal.addEventListener('abort', resolve));
    // Assess
    expect(signal.aborted).toBe(false);
    await aborted;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
  });

  it('is aborted at once when less than the margin is left', () => {
    const signal = deadlineSignal({ getRemainingTimeInMillis: () => DEADLINE_MARGIN_MS - 1 });
    expect(signal.aborted).toBe(true);
    expect(String(signal.reason)).toMatch(/no time left/);
  });
});
