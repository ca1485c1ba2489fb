/*
 * When may a reader of the outbox pass a missing id?
 *
 * Ids are taken when a row is inserted; the row becomes visible when its transaction commits. On PostgreSQL and
 * Aurora two writers commit in any order, so a reader at `id > cursor` can see id 12 while id 11 is still
 * invisible: either its transaction is running (11 will appear) or it rolled back (11 never will). A cursor that
 * passes 11 too early skips it for ever; one that waits for ever stalls on every rollback.
 *
 * The rule used here needs no per-row mark and no timeout. The outbox id default takes the transaction id first
 * (`pg_current_xact_id()`, migration 0002) and the sequence value second, so whoever took id 11 already had a
 * transaction id when it did. Every read returns, from its own snapshot, xmin (the oldest transaction still
 * running) and xmax (the first transaction id not yet handed out). If 12 is visible in a read, 11 was taken
 * before 12, hence before that read, by a transaction whose id is below the read's xmax. Once a later read's
 * xmin reaches that xmax, every such transaction has ended: 11 is visible by then, or it never will be. A read
 * with xmin = xmax (nothing running, always the case on PGlite) settles every gap below what it saw at once.
 *
 * The price: a long write transaction anywhere in the database holds back the passing of a gap (not the rows
 * before it) until it ends.
 */

/** One read of the outbox after some id: its rows' ids in order, and its snapshot's xmin and xmax. */
export interface OutboxSnapshot {
  /** Ids of the rows read, ascending. */
  readonly ids: readonly number[];
  /** `pg_snapshot_xmin(pg_current_snapshot())` of the read: every transaction id below it has ended. */
  readonly xmin: number;
  /** `pg_snapshot_xmax(pg_current_snapshot())` of the read: no transaction id at or above it existed yet. */
  readonly xmax: number;
}

/**
 * Tracks which gaps in the outbox sequence are final. One per reader (the relay, the SSE hub); losing it (a
 * restart) only costs a wait of one more read for the gaps it had settled.
 */
export class CommitFrontier {
  /** Every id at or below this that is not visible never will be. */
  #settled = 0;
  /** The last gap waited for: ids up to `upTo` are final once a read's xmin reaches `until`. */
  #pending: { upTo: number; until: number } | undefined;

  /**
   * How many of `read.ids`, from the first, can be passed in order by a reader standing at `cursor`: rows that
   * follow the cursor or the previous row without a gap, or across gaps known to be final. Stops before the
   * first gap that may still fill.
   */
  passable(cursor: number, read: OutboxSnapshot): number {
    const { ids, xmin, xmax } = read;
    if (this.#pending && xmin >= this.#pending.until) {
      this.#settled = Math.max(this.#settled, this.#pending.upTo);
      this.#pending = undefined;
    }
    const highest = ids.at(-1);
    if (highest === undefined) return 0;
    // Nothing was running when this read's snapshot was taken: every gap below what it saw is final.
    if (xmin >= xmax) this.#settled = Math.max(this.#settled, highest);
    let at = cursor;
    let n = 0;
    for (const id of ids) {
      if (id !== at + 1 && id > this.#settled) break;
      at = id;
      n++;
    }
    // Stopped at a gap: note what this read proves once the transactions running during it have ended. An
    // older note is kept while it still covers the gap (replacing it with a later xmax could starve it under
    // constant load).
    if (n < ids.length && (!this.#pending || this.#pending.upTo <= at)) {
      this.#pending = { upTo: highest, until: xmax };
    }
    return n;
  }

  /** True while a gap is waited for (the reader should look again soon rather than at its idle interval). */
  get waiting(): boolean {
    return this.#pending !== undefined;
  }
}
