import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import { S3Artifacts } from '#shared/adapters/s3-artifacts';
import { ArtifactTooLargeError, ValidationError } from '#shared/errors';
import { assertArtifactKey, executionPrefix, executionSegment } from '#shared/ports/artifacts';

const s3 = mockClient(S3Client);
const BUCKET = 'wflo-test-artifacts';
const KEY = 'executions/exec-1/sandbox/abc/result.json';

/** A client with static credentials: presigning is local computation, no request is sent. */
const signingClient = () =>
  new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIAEXAMPLEEXAMPLE12', secretAccessKey: 'secret', sessionToken: 'tok' },
  });

/** A GetObject body as the SDK hands it out, recording whether it was consumed or dropped. */
function body(text: string) {
  const state = { read: false, destroyed: false };
  const value = {
    transformToByteArray: async () => {
      state.read = true;
      return new TextEncoder().encode(text);
    },
    destroy: () => {
      state.destroyed = true;
    },
  } as unknown as GetObjectCommandOutput['Body'];
  return { value, state };
}

describe('Port: artifacts keys', () => {
  it('accepts relative keys under executions/ and refuses traversal, absolute paths and odd characters', () => {
    expect(assertArtifactKey(KEY)).toBe(KEY);
    for (const bad of [
      '',
      '/etc/passwd',
      'executions/../x',
      'a//b',
      'a/./b',
      'a b',
      'a\\b',
      'a/b/',
      'x'.repeat(1025),
    ]) {
      expect(() => assertArtifactKey(bad), bad).toThrow(ValidationError);
    }
  });

  it('keeps plain execution names and hashes any other, so a name cannot leave its prefix', () => {
    expect(executionPrefix('4f0c-run_1')).toBe('executions/4f0c-run_1/');
    const odd = executionSegment('../../other');
    expect(odd).toMatch(/^h-[0-9a-f]{40}$/);
    expect(executionSegment('../../other')).toBe(odd);
    expect(executionSegment('a.b')).not.toBe('a.b');
  });
});

describe('Adapter: S3Artifacts', () => {
  afterEach(() => s3.reset());

  it('puts an object with its content type into the bucket', async () => {
    // Prepare
    s3.on(PutObjectCommand).resolves({});
    const artifacts = new S3Artifacts({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET });

    // Act
    await artifacts.put('executions/e/code.py', 'print(1)', 'text/x-python');

    // Assess
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: BUCKET, Key: 'executions/e/code.py', Body: 'print(1)', ContentType: 'text/x-python' },
    ]);
  });

  it('presigns a GET and a PUT of exactly that key, for the given seconds, the PUT bound to its content type', async () => {
    // Prepare
    const artifacts = new S3Artifacts({ client: signingClient(), bucket: BUCKET });

    // Act
    const get = new URL(await artifacts.presignGet('executions/e/code.py', 600));
    const put = new URL(await artifacts.presignPut(KEY, 'application/json', 900));

    // Assess
    expect(get.hostname).toBe(`${BUCKET}.s3.eu-west-1.amazonaws.com`);
    expect(get.pathname).toBe('/executions/e/code.py');
    expect(get.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(get.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(put.pathname).toBe(`/${KEY}`);
    expect(put.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(put.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('content-type');
    expect(put.searchParams.get('x-id')).toBe('PutObject');
    // Nothing was sent: presigning is local.
    expect(s3.calls()).toHaveLength(0);
  });

  it('refuses an expiry beyond an hour or below a second', async () => {
    const artifacts = new S3Artifacts({ client: signingClient(), bucket: BUCKET });
    await expect(artifacts.presignGet(KEY, 3601)).rejects.toThrow(RangeError);
    await expect(artifacts.presignPut(KEY, 'application/json', 0)).rejects.toThrow(RangeError);
  });

  it('reads an object within the limit', async () => {
    // Prepare
    const b = body('{"ok":true}');
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: KEY }).resolves({ Body: b.value, ContentLength: 11 });
    const artifacts = new S3Artifacts({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET });

    // Act
    const bytes = await artifacts.get(KEY, 100);

    // Assess
    expect(Buffer.from(bytes!).toString()).toBe('{"ok":true}');
  });

  it('refuses an oversized object from its Content-Length without reading the body', async () => {
    // Prepare
    const b = body('x'.repeat(200));
    s3.on(GetObjectCommand).resolves({ Body: b.value, ContentLength: 200 });
    const artifacts = new S3Artifacts({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET });

    // Act / Assess
    await expect(artifacts.get(KEY, 100)).rejects.toThrow(ArtifactTooLargeError);
    expect(b.state).toEqual({ read: false, destroyed: true });
  });

  it('reads a missing object (NoSuchKey) as undefined and passes any other error on', async () => {
    // Prepare
    const artifacts = new S3Artifacts({ client: new S3Client({ region: 'eu-west-1' }), bucket: BUCKET });
    const s3Error = (name: string, status: number) =>
      new S3ServiceException({
        name,
        $fault: 'client',
        $metadata: { httpStatusCode: status },
        message: name,
      });
    s3.on(GetObjectCommand).rejectsOnce(s3Error('NoSuchKey', 404)).rejectsOnce(s3Error('AccessDenied', 403));

    // Act / Assess
    expect(await artifacts.get(KEY, 100)).toBeUndefined();
    await expect(artifacts.get(KEY, 100)).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});

describe('Adapter: LocalArtifacts', () => {
  let root: string;
  let artifacts: LocalArtifacts;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'wflo-artifacts-test-'));
    artifacts = new LocalArtifacts(join(root, 'store'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores objects private to this user and reads them back; a missing one is undefined', async () => {
    // Act
    await artifacts.put('executions/e1/code.py', 'print(1)', 'text/x-python');

    // Assess
    const path = join(artifacts.root, 'executions/e1/code.py');
    expect(await readFile(path, 'utf8')).toBe('print(1)');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(artifacts.root, 'executions/e1'))).mode & 0o777).toBe(0o700);
    expect(Buffer.from((await artifacts.get('executions/e1/code.py', 100))!).toString()).toBe('print(1)');
    expect(await artifacts.get('executions/e1/none.json', 100)).toBeUndefined();
  });

  it('refuses to read an object larger than asked', async () => {
    await artifacts.put('executions/e1/big.json', 'x'.repeat(101), 'application/json');
    await expect(artifacts.get('executions/e1/big.json', 100)).rejects.toThrow(ArtifactTooLargeError);
  });

  it('hands out file:// URLs of its own paths and maps only those back', async () => {
    // Act
    const get = await artifacts.presignGet('executions/e1/code.py');
    const put = await artifacts.presignPut('executions/e2/result.json');

    // Assess
    expect(artifacts.pathOf(get)).toBe(join(artifacts.root, 'executions/e1/code.py'));
    expect(artifacts.pathOf(put)).toBe(join(artifacts.root, 'executions/e2/result.json'));
    expect((await stat(join(artifacts.root, 'executions/e2'))).isDirectory()).toBe(true);
    expect(artifacts.pathOf(pathToFileURL('/etc/passwd').href)).toBeUndefined();
    expect(artifacts.pathOf(`${pathToFileURL(artifacts.root).href}/../escape`)).toBeUndefined();
    expect(artifacts.pathOf(pathToFileURL(artifacts.root).href)).toBeUndefined();
    expect(artifacts.pathOf('https://bucket.s3.amazonaws.com/executions/e1/code.py')).toBeUndefined();
  });

  it('refuses keys that would leave its directory', async () => {
    await expect(artifacts.put('../outside', 'x', 'text/plain')).rejects.toThrow(ValidationError);
    await expect(artifacts.get('executions/../../x', 10)).rejects.toThrow(ValidationError);
  });
});
