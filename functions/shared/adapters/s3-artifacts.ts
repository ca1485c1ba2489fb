import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ArtifactTooLargeError } from '../errors.ts';
import { type ArtifactStore, assertArtifactKey } from '../ports/artifacts.ts';

export interface S3ArtifactsOptions {
  readonly client: S3Client;
  /** The artifacts bucket (`ARTIFACTS_BUCKET`, set by the CDK's `bindArtifacts`). */
  readonly bucket: string;
  /** Presigner, swappable in tests. @default getSignedUrl of @aws-sdk/s3-request-presigner */
  readonly presign?: typeof getSignedUrl;
}

/** Longest validity of a presigned URL (SigV4 allows 7 days; a sandbox run needs minutes). */
export const MAX_PRESIGN_SECONDS = 3600;

/**
 * Artifacts in the S3 artifacts bucket (AWS target). The sandbox task has no IAM permissions: it reaches
 * its code and result only through the presigned URLs made here, signed with the calling Lambda's role
 * (so that role needs s3:GetObject for a GET URL and s3:PutObject for a PUT URL), over the VPC's S3
 * gateway endpoint. Objects are encrypted by the bucket's default (SSE-S3), which presigned requests need
 * no header for.
 *
 * A missing object reads as undefined only when the role may also list the bucket; without
 * s3:ListBucket S3 answers 403 for a missing key, which is thrown as it is.
 *
 * @example
 * const artifacts = new S3Artifacts({ client: new S3Client({}), bucket: config.artifacts.bucket });
 * const url = await artifacts.presignPut('executions/e1/sandbox/r1/result.json', 'application/json', 600);
 */
export class S3Artifacts implements ArtifactStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #presign: typeof getSignedUrl;

  constructor(options: S3ArtifactsOptions) {
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#presign = options.presign ?? getSignedUrl;
  }

  async put(key: string, body: string | Uint8Array, contentType: string): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: assertArtifactKey(key),
        Body: body,
        ContentType: contentType,
      }),
    );
  }

  async presignGet(key: string, expiresInSeconds: number): Promise<string> {
    return this.#presign(
      this.#client,
      new GetObjectCommand({ Bucket: this.#bucket, Key: assertArtifactKey(key) }),
      { expiresIn: expiry(expiresInSeconds) },
    );
  }

  async presignPut(key: string, contentType: string, expiresInSeconds: number): Promise<string> {
    return this.#presign(
      this.#client,
      new PutObjectCommand({ Bucket: this.#bucket, Key: assertArtifactKey(key), ContentType: contentType }),
      // Signed, so the upload must declare exactly this type (the presigner signs only `host` by default).
      { expiresIn: expiry(expiresInSeconds), signableHeaders: new Set(['content-type']) },
    );
  }

  async get(key: string, maxBytes: number): Promise<Uint8Array | undefined> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: assertArtifactKey(key) }),
      );
    } catch (error) {
      if (
        error instanceof S3ServiceException &&
        (error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)
      ) {
        return undefined;
      }
      throw error;
    }
    // S3 always sends Content-Length for GetObject: refuse before reading a byte of an oversized body.
    if (response.ContentLength === undefined || response.ContentLength > maxBytes) {
      // Node's body is a socket stream: drop it rather than leave the connection busy.
      (response.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new ArtifactTooLargeError(
        `artifact ${key} has ${response.ContentLength ?? 'an unknown number of'} bytes; at most ${maxBytes} are read`,
      );
    }
    const bytes = (await response.Body?.transformToByteArray()) ?? new Uint8Array();
    if (bytes.byteLength > maxBytes) {
      throw new ArtifactTooLargeError(`artifact ${key} is larger than ${maxBytes} bytes`);
    }
    return bytes;
  }
}

function expiry(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw new RangeError(`presigned URL expiry must be 1..${MAX_PRESIGN_SECONDS} s (got ${seconds})`);
  }
  return seconds;
}
