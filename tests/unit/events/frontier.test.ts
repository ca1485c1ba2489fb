import { describe, expect, it } from 'vitest';
import { CommitFrontier } from '#shared/events/frontier';

describe('Class: CommitFrontier', () => {
  it('passes contiguous ids and stops at a gap while a transaction that could hold it runs', () => {
    // GIVEN a reader at 0 and a read that sees 1, 2, 4 while transaction 100 runs (xmin 100 < xmax 105)
    const f = new CommitFrontier();

    // WHEN / THEN: 1 and 2 pass, 3 may still commit
    expect(f.passable(0, { ids: [1, 2, 4], xmin: 100, xmax: 105 })).toBe(2);
    expect(f.waiting).toBe(true);
    // still running at the next read: held again
    expect(f.passable(2, { ids: [4, 5], xmin: 100, xmax: 107 })).toBe(0);
  });

  it('passes the gap once every transaction running at the read that saw it has ended', () => {
    // GIVEN a gap at 3 seen by a read whose xmax was 105
    const f = new CommitFrontier();
    f.passable(0, { ids: [1, 2, 4], xmin: 100, xmax: 105 });

    // WHEN a later read's xmin reaches 105 (3 did not appear: rolled back), though new transactions run
    const n = f.passable(2, { ids: [4, 5, 7], xmin: 105, xmax: 110 });

    // THEN 4 and 5 pass (below what the first read proved), 6 waits: it was not covered by that read
    expect(n).toBe(2);
    expect(f.waiting).toBe(true);
  });

  it('keeps the older proof under constant load instead of waiting for ever-later transactions', () => {
    // GIVEN a gap at 3 (proof: xmin must reach 105), then reads that keep seeing new running transactions
    const f = new CommitFrontier();
    f.passable(0, { ids: [1, 2, 4], xmin: 100, xmax: 105 });
    f.passable(2, { ids: [4, 5], xmin: 103, xmax: 120 });

    // WHEN xmin reaches 105 (not 120)
    const n = f.passable(2, { ids: [4, 5], xmin: 105, xmax: 130 });

    // THEN the gap is passed
    expect(n).toBe(2);
  });

  it('passes every gap at once when the read saw no transaction running (PGlite, an idle server)', () => {
    const f = new CommitFrontier();
    expect(f.passable(0, { ids: [2, 5, 6], xmin: 50, xmax: 50 })).toBe(3);
    expect(f.waiting).toBe(false);
  });
});
