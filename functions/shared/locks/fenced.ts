import { eq, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { fencedDocuments } from '../db/schema.ts';
import { StaleFencingTokenError } from '../errors.ts';
import type { FencedDocuments } from '../ports/lock.ts';

/**
 * Writes a fenced document (a workflow's shared document, a resource wflo owns) with the writer's fencing
 * token, in one conditional upsert: it applies only when the token is at least the newest the document has
 * seen, so a holder whose lease expired (and was granted to someone else, with a larger token) cannot
 * overwrite the newer holder's work. Throws {@link StaleFencingTokenError} and changes nothing otherwise.
 */
export async function writeFencedDocument(
  db: WfloDb,
  name: string,
  content: unknown,
  fencingToken: number,
): Promise<void> {
  const rows = await db
    .insert(fencedDocuments)
    .values({ name, content, fencingToken })
    .onConflictDoUpdate({
      target: fencedDocuments.name,
      set: { content, fencingToken, updatedAt: sql`now()` },
      setWhere: sql`${fencedDocuments.fencingToken} <= ${fencingToken}`,
    })
    .returning({ name: fencedDocuments.name });
  if (rows.length === 0) {
    throw new StaleFencingTokenError(
      `document '${name}' has seen a newer fencing token than ${fencingToken}; the write was refused`,
    );
  }
}

/** Reads a fenced document and the token of its last write. */
export async function readFencedDocument(
  db: WfloDb,
  name: string,
): Promise<{ content: unknown; fencingToken: number } | undefined> {
  const [row] = await db
    .select({ content: fencedDocuments.content, fencingToken: fencedDocuments.fencingToken })
    .from(fencedDocuments)
    .where(eq(fencedDocuments.name, name));
  return row;
}

/** The fenced documents of one database, as the port the activities use. */
export function storeFencedDocuments(db: WfloDb): FencedDocuments {
  return {
    write: (name, content, token) => writeFencedDocument(db, name, content, token),
    read: (name) => readFencedDocument(db, name),
  };
}
