import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SandboxResult } from '../../../sandbox-image/src/contract.ts';
import {
  decodeInlineCode,
  deliverResult,
  encodeInlineCode,
  type Fetch,
  loadCode,
  TransferError,
} from '../../../sandbox-image/src/io.ts';

const result: SandboxResult = {
  exitCode: 0,
  signal: null,
  stdout: 'héllo ✓\n',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 3,
};

/** A fetch double that answers from a queue and records each call. */
function fakeFetch(answers: Array<Response | Error>) {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  const fn: Fetch = async (input, init) => {
    calls.push({ url: String(input), init });
    const next = answers.shift();
    if (next === undefined) throw new Error('unexpected call');
    if (next instanceof Error) throw next;
    return next;
  };
  return { fn, calls };
}

/** A sleep double: records each wait and returns at once (the retry tests never wait for real). */
function fakeSleep() {
  const waits: number[] = [];
  const sleep = async (ms: number) => {
    waits.push(ms);
  };
  return { sleep, waits };
}

describe('Function: decodeInlineCode', () => {
  it('round-trips UTF-8 source through gzip+base64', () => {
    const code = 'print("ünïcødé ✓ 😀")\n';
    expect(decodeInlineCode(encodeInlineCode(code))).toBe(code);
  });

  it('stops a gzip bomb at the size limit without inflating it', () => {
    // Prepare: 64 MiB of zeros compress to about 64 KiB
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024)).toString('base64');

    // Act + Assess
    expect(() => decodeInlineCode(bomb, 1024 * 1024)).toThrow(/larger than 1048576 bytes/);
  });

  it('rejects data that is not gzip', () => {
    expect(() => decodeInlineCode(Buffer.from('print(1)').toString('base64'))).toThrow(TransferError);
  });
});

describe('Function: loadCode', () => {
  it('GETs the presigned URL', async () => {
    const { fn, calls } = fakeFetch([new Response('print(42)')]);
    await expect(loadCode({ kind: 'url', url: 'https://s3/code?sig=1' }, { fetch: fn })).resolves.toBe(
      'print(42)',
    );
    expect(calls).toHaveLength(1);
  });

  it('retries a 5xx and a network error with backoff, then succeeds', async () => {
    // Prepare
    const { fn, calls } = fakeFetch([
      new Response('slow down', { status: 503 }),
      new TypeError('fetch failed'),
      new Response('ok()'),
    ]);
    const { sleep, waits } = fakeSleep();

    // Act
    const code = loadCode({ kind: 'url', url: 'https://s3/code' }, { fetch: fn, sleep });

    // Assess
    await expect(code).resolves.toBe('ok()');
    expect(calls).toHaveLength(3);
    expect(waits).toEqual([250, 500]);
  });

  it('does not retry a 403 and keeps the signature out of the message', async () => {
    const { fn, calls } = fakeFetch([new Response('expired', { status: 403 })]);
    const { sleep, waits } = fakeSleep();
    const act = loadCode(
      { kind: 'url', url: 'https://s3/code?X-Amz-Signature=secret' },
      { fetch: fn, sleep },
    );
    await expect(act).rejects.toThrow('GET https://s3/code?<redacted> answered 403');
    expect(calls).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('refuses a body larger than the limit', async () => {
    const { fn } = fakeFetch([new Response('x'.repeat(2000))]);
    await expect(
      loadCode({ kind: 'url', url: 'https://s3/c' }, { fetch: fn, maxBytes: 1000 }),
    ).rejects.toThrow(/larger than 1000 bytes/);
  });
});

describe('Function: deliverResult', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wflo-deliver-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('PUTs the JSON result to the presigned URL', async () => {
    // Prepare
    const { fn, calls } = fakeFetch([new Response(null, { status: 200 })]);

    // Act
    await deliverResult(result, { kind: 'url', url: 'https://s3/result?sig' }, { fetch: fn });

    // Assess
    expect(calls[0]!.init!.method).toBe('PUT');
    expect(JSON.parse(String(calls[0]!.init!.body))).toEqual(result);
  });

  it('retries a failed PUT and gives up on a 4xx', async () => {
    // Prepare
    const retried = fakeFetch([new Response(null, { status: 500 }), new Response(null, { status: 200 })]);
    const refused = fakeFetch([new Response(null, { status: 403 })]);
    const { sleep, waits } = fakeSleep();

    // Act + Assess: one wait before the second PUT, none after a 403
    await deliverResult(result, { kind: 'url', url: 'https://s3/r' }, { fetch: retried.fn, sleep });
    expect(retried.calls).toHaveLength(2);
    await expect(
      deliverResult(result, { kind: 'url', url: 'https://s3/r' }, { fetch: refused.fn, sleep }),
    ).rejects.toThrow(/answered 403/);
    expect(refused.calls).toHaveLength(1);
    expect(waits).toEqual([250]);
  });

  it('gives up after four attempts on a PUT that keeps failing with 503', async () => {
    // Prepare
    const failing = fakeFetch(Array.from({ length: 4 }, () => new Response(null, { status: 503 })));
    const { sleep, waits } = fakeSleep();

    // Act
    const act = deliverResult(result, { kind: 'url', url: 'https://s3/r' }, { fetch: failing.fn, sleep });

    // Assess
    await expect(act).rejects.toThrow(/answered 503/);
    expect(failing.calls).toHaveLength(4);
    expect(waits).toEqual([250, 500, 1000]);
  });

  it('writes a result file atomically, leaving no temp file', async () => {
    // Act
    const path = join(dir, 'result.json');
    await deliverResult(result, { kind: 'file', path });

    // Assess
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(result);
    expect(await readdir(dir)).toEqual(['result.json']);
  });

  it('reports a file it cannot write as a TransferError', async () => {
    await expect(
      deliverResult(result, { kind: 'file', path: join(dir, 'missing', 'r.json') }),
    ).rejects.toThrow(TransferError);
  });
});
