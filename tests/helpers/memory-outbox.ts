import type { RelayStore } from '#shared/events/relay';
import type { EventRow } from '#shared/ports/store';

/**
 * An in-memory outbox with the two store methods the relay uses (the SQL is covered by the Kafka suite): `n`
 * unpublished rows over three runs, each row's type and commit time from `shape(i)`.
 */
export function memoryOutbox(n: number, shape: (i: number) => Pick<EventRow, 'type' | 'createdAt'>) {
  const rows: (EventRow & { published: boolean })[] = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    eventId: `ev-${i + 1}`,
    executionId: `run-${i % 3}`,
    ...shape(i),
    payload: { i },
    publishedAt: null,
    published: false,
  }));
  const store: RelayStore = {
    listUnpublishedEvents: async (limit, after = 0) =>
      rows.filter((r) => !r.published && r.id > after).slice(0, limit),
    markEventsPublished: async (ids) => {
      let marked = 0;
      for (const r of rows) {
        if (!ids.includes(r.id) || r.published) continue;
        r.published = true;
        marked++;
      }
      return marked;
    },
  };
  return { rows, store };
}
