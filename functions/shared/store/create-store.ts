import type { DbConnection } from '../db/connection.ts';
import type { Store } from '../ports/store.ts';
import { budgetMethods } from './budget.ts';
import { durableMethods } from './durable.ts';
import { executionMethods } from './executions.ts';
import { ledgerMethods } from './ledger.ts';
import { listingMethods } from './listing.ts';
import { outboxMethods } from './outbox.ts';
import { resumeMethods } from './resume.ts';
import { stepMethods } from './steps.ts';

/**
 * Builds the store over an open connection, one aggregate at a time (executions, steps, ledger, budget,
 * outbox, the read side). The statements on every step's path are built once with placeholders and prepared by
 * name (`wflo_*`): on PostgreSQL and Aurora each connection plans them once, and PGlite's batching client
 * prepares each text once too.
 */
export function createStore(conn: DbConnection): Store {
  const db = conn.db;
  const budget = budgetMethods(db);
  const ledger = ledgerMethods(db, budget.releaseBudget);
  return {
    kind: conn.kind,
    ...executionMethods(db),
    ...stepMethods(db, ledger.getActivityResult),
    ...ledger,
    ...budget,
    ...listingMethods(db),
    ...outboxMethods(db),
    ...durableMethods(db),
    ...resumeMethods(db),
    close: () => conn.close(),
  };
}
