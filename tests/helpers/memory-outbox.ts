import type { RelayStore } from '#shared/events/relay';
import type { EventRow, RelayEvent } from '#shared/ports/store';

/**
 * An in-memory outbox with the store methods the relay uses (the SQL is covered by the integration and Kafka
 * suites): `n` committed rows over three runs, each row's type and commit time from `shape(i)`, and the relay's
 * cursor. Row i was written by transaction i (so its id is its transaction id): `hold(id)` makes a row's
 * transaction still running (invisible, and it keeps the snapshot's xmin at its id), `commit(id)` ends it,
 * `rollback(id)` drops the row for good.
 */
export function memoryOutbox(n: number, shape: (i: number) => Pick<EventRow, 'type' | 'createdAt'>) {
  const rows: EventRow[] = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    eventId: `ev-${i + 1}`,
    executionId: `run-${i % 3}`,
    ...shape(i),
    payload: { i },
  }));
  const running = new Set<number>();
  let cursor = 0;
  const relayEvent = (r: EventRow): RelayEvent => ({
    id: r.id,
    eventId: r.eventId,
    executionId: r.executionId,
    type: r.type,
    createdAtMs: r.createdAt.getTime(),
    payloadJson: JSON.stringify(r.payload),
  });
  const store: RelayStore = {
    readRelayBatch: async (after, limit) => {
      const page = rows.filter((r) => r.id > after && !running.has(r.id)).slice(0, limit);
      if (page.length === 0) return { events: [], xmin: 0, xmax: 0 };
      const xmax = Math.max(0, ...rows.map((r) => r.id)) + 1;
      return { events: page.map(relayEvent), xmin: Math.min(xmax, ...running), xmax };
    },
    relayCursor: async () => cursor,
    advanceRelayCursor: async (_name, lastId) => {
      cursor = Math.max(cursor, lastId);
    },
  };
  return {
    rows,
    store,
    /** Every row up to this id has been relayed. */
    cursor: () => cursor,
    hold: (id: number) => running.add(id),
    commit: (id: number) => running.delete(id),
    rollback: (id: number) => {
      running.delete(id);
      rows.splice(
        rows.findIndex((r) => r.id === id),
        1,
      );
    },
  };
}
