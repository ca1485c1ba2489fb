import { sql } from 'drizzle-orm';
import type { PgPreparedQuery, PreparedQueryConfig } from 'drizzle-orm/pg-core';

/** A named placeholder: the statement is built once and filled with each call's values. */
export const p = (name: string) => sql.placeholder(name);

/** A JSON value as a jsonb parameter (serialised here, so strings, numbers and arrays stay JSON). */
export const json = (value: unknown) =>
  value === undefined || value === null ? null : JSON.stringify(value);

/** Builds a statement on first use and keeps it: drizzle's query building costs more than PGlite running it. */
export function once<T extends PreparedQueryConfig>(
  build: () => PgPreparedQuery<T>,
): () => PgPreparedQuery<T> {
  let built: PgPreparedQuery<T> | undefined;
  return () => {
    built ??= build();
    return built;
  };
}

/** The rows of a raw `db.execute`, whichever driver ran it (node-postgres and PGlite answer `{ rows }`). */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
