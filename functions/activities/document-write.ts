import { DocumentWriteInputSchema, documentWrite } from '#shared/activities/locks';
import { activityHandler } from '#shared/middleware/activity';
import { getDocuments } from '#shared/wiring/documents';
import { getStore } from '#shared/wiring/store';

/**
 * Lambda: document-write, a fenced write that refuses a stale lock holder (see
 * functions/shared/activities/locks.ts). Uses the store only.
 */
export const handler = activityHandler(
  'document-write',
  DocumentWriteInputSchema,
  async () => ({ store: await getStore(), documents: await getDocuments() }),
  (deps, step, input) => documentWrite(deps, step, input),
);
