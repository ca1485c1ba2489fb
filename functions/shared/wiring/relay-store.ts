import { getLambdaDb } from '#shared/wiring/lambda-db';
import { guardStore } from '../db/errors.ts';
import type { RelayStore } from '../events/relay.ts';
import { outboxMethods } from '../store/outbox.ts';
import { lazyPart } from './lazy.ts';

/**
 * The relay's part of the store: the outbox statements only (store/outbox.ts, the same code the full store
 * uses), over the Lambda's connection and with the same error mapping. The relay Lambda calls three store
 * methods; the full store (wiring/store.ts) would add every other store module to its bundle. When a runtime
 * is installed (the local target, tests), its store is used, as for every part.
 */
export const getRelayStore: () => Promise<RelayStore> = lazyPart(
  (rt) => rt.store,
  async () => guardStore(outboxMethods((await getLambdaDb()).db)),
);
