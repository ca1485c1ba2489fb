import { createHash } from 'node:crypto';
import * as z from 'zod';
import { LockNotAcquiredError, LockTimeoutError } from '../errors.ts';
import { EVENTS } from '../events/catalogue.ts';
import {
  acquireLock,
  MAX_LOCK_NAME_LENGTH,
  MAX_LOCK_TTL_MS,
  MIN_LOCK_TTL_MS,
  releaseLock,
} from '../locks/locks.ts';
import type { FencedDocuments, LockManager } from '../ports/lock.ts';
import type { Store } from '../ports/store.ts';
import type { StepInfo } from '../step-context.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const LockNameSchema = z
  .string()
  .min(1)
  .max(MAX_LOCK_NAME_LENGTH)
  .regex(NO_CONTROL, 'must not contain control characters');

export const LockAcquireInputSchema = z.object({
  context: z.unknown(),
  name: LockNameSchema,
  /** Lease length; renew by acquiring again with the same owner before it ends. */
  ttlSeconds: z
    .number()
    .min(MIN_LOCK_TTL_MS / 1000)
    .max(MAX_LOCK_TTL_MS / 1000)
    .default(60),
  /**
   * How long this invocation waits for the lock before failing with LockNotAcquiredError (the ASL Retry on it
   * is the longer wait loop). Kept well under the function's timeout.
   */
  waitSeconds: z.number().min(0).max(20).default(0),
  /** The holder's identity. @default one per execution and state entry (a retry of the entry is the same owner) */
  owner: z.string().min(1).max(200).optional(),
});
export type LockAcquireInput = z.infer<typeof LockAcquireInputSchema>;

export const LockReleaseInputSchema = z.object({
  context: z.unknown(),
  name: LockNameSchema,
  owner: z.string().min(1).max(200),
});
export type LockReleaseInput = z.infer<typeof LockReleaseInputSchema>;

export interface LockDeps {
  readonly store: Store;
  readonly locks: LockManager;
}

/** What lock-acquire puts into the state: pass `fencingToken` to every write to the protected resource. */
export interface LockAcquireOutput {
  readonly name: string;
  readonly owner: string;
  readonly fencingToken: number;
  readonly expiresAt: string;
}

/** The default owner: the execution and the state entry, so a retried acquire of the same entry is idempotent. */
export function defaultOwner(step: StepInfo): string {
  const entry = createHash('sha256')
    .update(`${step.stateName}/${step.enteredTime}/${step.item}`)
    .digest('hex')
    .slice(0, 16);
  return `${step.executionId}/${entry}`;
}

/**
 * lock-acquire: grants the lock (bounded wait), records `lock.acquired` with its fencing token, and returns
 * the grant. While another owner holds it the activity fails with {@link LockNotAcquiredError}, so the ASL
 * Retry on that name is the (durable, billed-per-transition) wait loop.
 */
export async function lockAcquire(
  deps: LockDeps,
  step: StepInfo,
  input: LockAcquireInput,
): Promise<LockAcquireOutput> {
  const owner = input.owner ?? defaultOwner(step);
  let grant: Awaited<ReturnType<typeof acquireLock>>;
  try {
    grant = await acquireLock(deps.locks, input.name, {
      owner,
      ttlMs: Math.round(input.ttlSeconds * 1000),
      waitMs: Math.round(input.waitSeconds * 1000),
    });
  } catch (error) {
    if (error instanceof LockTimeoutError) throw new LockNotAcquiredError(error.message, { cause: error });
    throw error;
  }
  await deps.store.appendEvents(step.executionId, [
    {
      type: EVENTS.lockAcquired,
      payload: { name: grant.name, owner, fencingToken: grant.fencingToken, stateName: step.stateName },
    },
  ]);
  return {
    name: grant.name,
    owner,
    fencingToken: grant.fencingToken,
    expiresAt: new Date(grant.expiresAt).toISOString(),
  };
}

/**
 * lock-release: compare-and-delete by owner. Released → `lock.released`; an expired lease is not an error
 * (`released: false`, usable from a Catch path); a lock another owner holds fails with LockNotHeldError
 * and is left untouched.
 */
export async function lockRelease(
  deps: LockDeps,
  step: StepInfo,
  input: LockReleaseInput,
): Promise<{ name: string; released: boolean }> {
  const released = await releaseLock(deps.locks, input.name, input.owner);
  if (released) {
    await deps.store.appendEvents(step.executionId, [
      {
        type: EVENTS.lockReleased,
        payload: { name: input.name, owner: input.owner, stateName: step.stateName },
      },
    ]);
  }
  return { name: input.name, released };
}

export const DocumentWriteInputSchema = z.object({
  context: z.unknown(),
  document: LockNameSchema,
  content: z.unknown(),
  /** The fencing token of the lock-acquire grant that protects this document. */
  fencingToken: z.number().int().min(1),
});
export type DocumentWriteInput = z.infer<typeof DocumentWriteInputSchema>;

/**
 * document-write: writes a fenced document with the writer's fencing token. A token older than the newest the
 * document has seen (the lock expired and was granted again) fails with StaleFencingTokenError, unchanged.
 */
export async function documentWrite(
  deps: { readonly store: Store; readonly documents: FencedDocuments },
  _step: StepInfo,
  input: DocumentWriteInput,
): Promise<{ document: string; fencingToken: number }> {
  await deps.documents.write(input.document, input.content ?? null, input.fencingToken);
  return { document: input.document, fencingToken: input.fencingToken };
}
