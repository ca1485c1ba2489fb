import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.ts';

/**
 * Port: objects a workflow hands to or gets back from the sandbox (program code, run results), and the
 * URLs the sandbox moves them through. Adapters: S3 with presigned URLs on AWS
 * (`adapters/s3-artifacts.ts`), a directory under `${WFLO_DATA_DIR}/artifacts` with `file://` URLs locally
 * (`infra/local/engine/adapters/local-artifacts.ts`, understood by the local `ecs:runTask.sync` integration only).
 *
 * Keys are relative paths under `executions/<execution>/...` (the prefix the CDK grants access to).
 */
export interface ArtifactStore {
  readonly kind: 's3' | 'local';
  /** Stores an object, replacing any previous one under the key. */
  put(key: string, body: string | Uint8Array, contentType: string): Promise<void>;
  /** A URL the sandbox may GET the object from until it expires. */
  presignGet(key: string, expiresInSeconds: number): Promise<string>;
  /**
   * A URL the sandbox may PUT the object to until it expires; the request must send exactly this
   * `content-type` (it is part of the S3 signature).
   */
  presignPut(key: string, contentType: string, expiresInSeconds: number): Promise<string>;
  /**
   * Reads an object; undefined when there is none.
   * @throws ArtifactTooLargeError when it is larger than `maxBytes` (nothing beyond that is read).
   */
  get(key: string, maxBytes: number): Promise<Uint8Array | undefined>;
}

const KEY = /^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/;

/**
 * Checks a key before an adapter uses it: relative, `/`-separated, no `.`/`..` segments, S3- and
 * filesystem-safe characters, at most 1,024 bytes.
 * @throws ValidationError naming the key.
 */
export function assertArtifactKey(key: string): string {
  const segments = key.split('/');
  if (key.length > 1024 || !KEY.test(key) || segments.some((s) => s === '.' || s === '..')) {
    throw new ValidationError(`invalid artifact key '${key.slice(0, 200)}'`, [
      'key: not a safe relative key',
    ]);
  }
  return key;
}

/**
 * The key segment of an execution: its name when that is plainly safe (what the API and Step Functions
 * console generate), otherwise a hash of it, so no execution name can climb out of its prefix.
 */
export function executionSegment(executionId: string): string {
  return /^[A-Za-z0-9_-]{1,80}$/.test(executionId)
    ? executionId
    : `h-${createHash('sha256').update(executionId).digest('hex').slice(0, 40)}`;
}

/** The prefix every artifact of one execution lives under. */
export function executionPrefix(executionId: string): string {
  return `executions/${executionSegment(executionId)}/`;
}
