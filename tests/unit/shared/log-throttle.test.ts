import { describe, expect, it } from 'vitest';
import { throttle } from '#shared/log-throttle';

describe('throttle', () => {
  it('lets the first report through, then one per interval with the count held back', () => {
    // Prepare
    let clock = 1_000;
    const warn = throttle(10_000, () => clock);
    const reported: number[] = [];
    const report = (suppressed: number) => reported.push(suppressed);

    // Act: 50 failures within 9 s, then one at 10 s, then 3 more, then one 25 s after that
    for (let i = 0; i < 50; i++) {
      warn(report);
      clock += 180;
    }
    clock = 11_000;
    warn(report);
    warn(report);
    warn(report);
    warn(report);
    clock = 36_000;
    warn(report);

    // Assess
    expect(reported).toEqual([0, 49, 3]);
  });
});
