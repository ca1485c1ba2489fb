import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { isInside } from '../adapters/local-artifacts.ts';
import type { LocalIntegration } from '../types.ts';

/*
 * An embedded S3 for the local engine: bucket `b`, key `k` is the file `<root>/<b>/<k>` (the runtime puts the
 * root at `<artifacts>/s3`), or, with no root, a map in memory (tests, the conformance runner). It backs
 * Distributed Map's ItemReader / ResultWriter and the `aws-sdk:s3:getObject|putObject|listObjectsV2` Tasks,
 * with the result shapes and error names Step Functions reports for those calls.
 */

/** Task Resources served by {@link s3Integrations}. */
export const S3_GET_OBJECT = 'arn:aws:states:::aws-sdk:s3:getObject';
export const S3_PUT_OBJECT = 'arn:aws:states:::aws-sdk:s3:putObject';
export const S3_LIST_OBJECTS_V2 = 'arn:aws:states:::aws-sdk:s3:listObjectsV2';

/** An S3 error as the aws-sdk integration names it (`S3.<Code>Exception`). */
export class S3Error extends Error {
  constructor(code: string, message: string, status: number) {
    super(`${message} (Service: S3, Status Code: ${status}, Request ID: local)`);
    this.name = `S3.${code}Exception`;
  }
}

export interface S3ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
}

// S3's bucket naming rules (lower case, digits, dots, hyphens; 3-63 characters).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const etagOf = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;

/** The local S3: a directory tree, or memory when no root is given. */
export class LocalS3 {
  /** Absolute path of the directory holding one folder per bucket; undefined when in memory. */
  readonly root: string | undefined;
  readonly #memory = new Map<string, { body: Buffer; lastModified: Date }>();

  constructor(root?: string) {
    this.root = root === undefined ? undefined : resolve(root);
  }

  /** The object's bytes; S3.NoSuchKeyException when there is none. */
  async getObject(bucket: string, key: string): Promise<{ body: Buffer; info: S3ObjectInfo }> {
    const path = this.#path(bucket, key);
    if (path === undefined) {
      const entry = this.#memory.get(`${bucket}/${key}`);
      if (!entry) throw noSuchKey();
      return { body: entry.body, info: info(key, entry.body, entry.lastModified) };
    }
    try {
      const [body, st] = await Promise.all([readFile(path), stat(path)]);
      return { body, info: info(key, body, st.mtime) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') throw noSuchKey();
      throw err;
    }
  }

  /** Writes (replaces) an object; a reader never sees half of it. Returns its ETag. */
  async putObject(bucket: string, key: string, body: string | Buffer): Promise<string> {
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const path = this.#path(bucket, key);
    if (path === undefined) {
      this.#memory.set(`${bucket}/${key}`, { body: bytes, lastModified: new Date() });
      return etagOf(bytes);
    }
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    const temp = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, bytes, { mode: 0o600 });
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return etagOf(bytes);
  }

  /** Every object of a bucket whose key starts with `prefix`, in key order (UTF-8 binary order, as S3 lists). */
  async listObjects(bucket: string, prefix = ''): Promise<S3ObjectInfo[]> {
    checkBucket(bucket);
    const out: S3ObjectInfo[] = [];
    if (this.root === undefined) {
      for (const [k, v] of this.#memory) {
        const key = k.slice(bucket.length + 1);
        if (k.startsWith(`${bucket}/`) && key.startsWith(prefix)) out.push(info(key, v.body, v.lastModified));
      }
    } else {
      const dir = join(this.root, bucket);
      let names: string[];
      try {
        names = (await readdir(dir, { recursive: true })) as string[];
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      for (const name of names) {
        const key = name.split(sep).join('/');
        // A write in progress (putObject's temporary file) is not an object yet.
        if (!key.startsWith(prefix) || key.endsWith('.tmp')) continue;
        const st = await stat(join(dir, name));
        if (!st.isFile()) continue;
        const body = await readFile(join(dir, name));
        out.push(info(key, body, st.mtime));
      }
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  }

  /** The file of an object (undefined in memory); refuses a key that would leave its bucket's folder. */
  #path(bucket: string, key: string): string | undefined {
    checkBucket(bucket);
    if (typeof key !== 'string' || key.length === 0 || key.length > 1024) {
      throw new S3Error('InvalidArgument', `invalid object key '${String(key).slice(0, 200)}'`, 400);
    }
    const segments = key.split('/');
    if (segments.some((s) => s === '.' || s === '..' || s === '') || key.includes('\0')) {
      // S3 allows such keys; a directory tree cannot hold them without escaping or aliasing.
      throw new S3Error('InvalidArgument', `the local S3 refuses the object key '${key.slice(0, 200)}'`, 400);
    }
    if (this.root === undefined) return undefined;
    const base = join(this.root, bucket);
    const path = join(base, ...segments);
    if (!isInside(base, path)) {
      throw new S3Error('InvalidArgument', `the object key '${key.slice(0, 200)}' leaves its bucket`, 400);
    }
    return path;
  }
}

function checkBucket(bucket: string): void {
  if (typeof bucket !== 'string' || !BUCKET.test(bucket) || bucket.includes('..')) {
    throw new S3Error('InvalidBucketName', `The specified bucket is not valid: '${String(bucket)}'`, 400);
  }
}

function info(key: string, body: Buffer, lastModified: Date): S3ObjectInfo {
  return { key, size: body.length, etag: etagOf(body), lastModified };
}

function noSuchKey(): S3Error {
  return new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
}

function params(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function requiredString(p: Record<string, unknown>, field: string): string {
  const v = p[field];
  if (typeof v !== 'string' || v.length === 0) {
    throw new S3Error(
      'InvalidParameter',
      `${field} must be a non-empty string, got ${JSON.stringify(v)}`,
      400,
    );
  }
  return v;
}

/**
 * `aws-sdk:s3:getObject` (Body as a string, as Step Functions returns it), `putObject` (a Body that is not a
 * string is written as its JSON) and `listObjectsV2` (Prefix, Delimiter, StartAfter, MaxKeys, ContinuationToken)
 * over a {@link LocalS3}.
 */
export function s3Integrations(s3: LocalS3): Map<string, LocalIntegration> {
  return new Map<string, LocalIntegration>([
    [
      S3_GET_OBJECT,
      async (raw) => {
        const p = params(raw);
        const { body, info: i } = await s3.getObject(requiredString(p, 'Bucket'), requiredString(p, 'Key'));
        return {
          AcceptRanges: 'bytes',
          Body: body.toString('utf8'),
          ContentLength: i.size,
          ContentType: 'application/octet-stream',
          ETag: i.etag,
          LastModified: i.lastModified.toISOString(),
          Metadata: {},
          ServerSideEncryption: 'AES256',
        };
      },
    ],
    [
      S3_PUT_OBJECT,
      async (raw) => {
        const p = params(raw);
        const body = p.Body === undefined ? '' : typeof p.Body === 'string' ? p.Body : JSON.stringify(p.Body);
        const etag = await s3.putObject(requiredString(p, 'Bucket'), requiredString(p, 'Key'), body);
        return { ETag: etag, ServerSideEncryption: 'AES256' };
      },
    ],
    [
      S3_LIST_OBJECTS_V2,
      async (raw) => {
        const p = params(raw);
        return listObjectsV2Page(
          await s3.listObjects(requiredString(p, 'Bucket'), optionalString(p, 'Prefix')),
          p,
        );
      },
    ],
  ]);
}

function optionalString(p: Record<string, unknown>, field: string): string {
  const v = p[field];
  if (v === undefined) return '';
  if (typeof v !== 'string') {
    throw new S3Error('InvalidArgument', `${field} must be a string, got ${JSON.stringify(v)}`, 400);
  }
  return v;
}

/** ContinuationToken: opaque to the caller, as S3's is; here the last key or common prefix of the page before. */
function encodeToken(after: string): string {
  return Buffer.from(JSON.stringify({ after }), 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as { after?: unknown }).after === 'string'
    ) {
      return (parsed as { after: string }).after;
    }
  } catch {
    // falls through to S3's answer for a token it did not issue
  }
  throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', 400);
}

/**
 * One ListObjectsV2 page over `objects` (every object under the Prefix, in key order), as S3 answers it: keys
 * after StartAfter (or after the ContinuationToken, which wins), keys sharing a Delimiter-ended part rolled into
 * CommonPrefixes, Contents and CommonPrefixes together counting towards MaxKeys (0–1000), and
 * NextContinuationToken while IsTruncated. Empty lists are left out, as the SDK leaves them undefined.
 */
export function listObjectsV2Page(
  objects: readonly S3ObjectInfo[],
  p: Record<string, unknown>,
): Record<string, unknown> {
  const prefix = optionalString(p, 'Prefix');
  const delimiter = optionalString(p, 'Delimiter');
  const startAfter = optionalString(p, 'StartAfter');
  const token = optionalString(p, 'ContinuationToken');
  if (
    p.MaxKeys !== undefined &&
    (typeof p.MaxKeys !== 'number' || !Number.isInteger(p.MaxKeys) || p.MaxKeys < 0)
  ) {
    throw new S3Error(
      'InvalidArgument',
      `MaxKeys must be a non-negative integer, got ${JSON.stringify(p.MaxKeys)}`,
      400,
    );
  }
  const maxKeys = p.MaxKeys === undefined ? 1000 : Math.min(1000, p.MaxKeys);
  const after = token === '' ? undefined : decodeToken(token);

  const contents: S3ObjectInfo[] = [];
  const commonPrefixes: string[] = [];
  let truncated = false;
  let last = '';
  for (const o of objects) {
    if (!o.key.startsWith(prefix)) continue;
    // StartAfter compares keys; a token names the last entry (key or common prefix) of the page before.
    if (after === undefined && startAfter !== '' && o.key <= startAfter) continue;
    const cut = delimiter === '' ? -1 : o.key.indexOf(delimiter, prefix.length);
    const entry = cut === -1 ? o.key : o.key.slice(0, cut + delimiter.length);
    if (after !== undefined && entry <= after) continue;
    if (entry === last) continue;
    if (contents.length + commonPrefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    if (cut === -1) contents.push(o);
    else commonPrefixes.push(entry);
    last = entry;
  }
  return {
    ...(contents.length === 0
      ? {}
      : {
          Contents: contents.map((o) => ({
            ETag: o.etag,
            Key: o.key,
            LastModified: o.lastModified.toISOString(),
            Size: o.size,
            StorageClass: 'STANDARD',
          })),
        }),
    ...(commonPrefixes.length === 0 ? {} : { CommonPrefixes: commonPrefixes.map((Prefix) => ({ Prefix })) }),
    ...(token === '' ? {} : { ContinuationToken: token }),
    ...(delimiter === '' ? {} : { Delimiter: delimiter }),
    IsTruncated: truncated,
    KeyCount: contents.length + commonPrefixes.length,
    MaxKeys: maxKeys,
    Name: optionalString(p, 'Bucket'),
    ...(truncated ? { NextContinuationToken: encodeToken(last) } : {}),
    Prefix: prefix,
    ...(startAfter === '' ? {} : { StartAfter: startAfter }),
  };
}
