import { storeFencedDocuments } from '../locks/fenced.ts';
import type { FencedDocuments } from '../ports/lock.ts';
import { lazyPart } from './lazy.ts';
import { getLambdaDb } from './store.ts';

/** The process's fenced documents: the store's table (Aurora on Lambda), or the installed runtime's. */
export const getDocuments: () => Promise<FencedDocuments> = lazyPart(
  (rt) => rt.documents,
  async () => storeFencedDocuments((await getLambdaDb()).db),
);
