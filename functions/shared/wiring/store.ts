import { getLambdaDb } from '#shared/wiring/lambda-db';
import { guardStore } from '../db/errors.ts';
import type { Store } from '../ports/store.ts';
import { createStore } from '../store/create-store.ts';
import { lazyPart } from './lazy.ts';

export { getLambdaDb, openLambdaDb } from '#shared/wiring/lambda-db';

/** The process's store: Aurora through the Data API on Lambda (or the installed runtime's store). */
export const getStore: () => Promise<Store> = lazyPart(
  (rt) => rt.store,
  async () => guardStore(createStore(await getLambdaDb())),
);
