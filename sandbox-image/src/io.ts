import { rename, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type CodeSource, type ResultTarget, redactUrl } from './config.ts';
import type { SandboxResult } from './contract.ts';
import { MAX_CODE_BYTES } from './core/limits.ts';

/** Code or a result could not be moved; the message never contains a URL's signature. */
export class TransferError extends Error {
  override name = 'TransferError';
}

/** The HTTP client the runner uses: global `fetch`, swappable in tests. */
export type Fetch = typeof fetch;

/** The inverse of `decodeInlineCode`, for whoever prepares the task's environment. */
export function encodeInlineCode(code: string): string {
  return gzipSync(Buffer.from(code, 'utf8')).toString('base64');
}

/**
 * Decodes inline code: base64 of gzip of UTF-8 source. Decompression stops at `maxBytes`, so a gzip
 * bomb costs nothing.
 * @throws TransferError when it is not gzip or too large.
 */
export function decodeInlineCode(gzB64: string, maxBytes = MAX_CODE_BYTES): string {
  try {
    return gunzipSync(Buffer.from(gzB64, 'base64'), { maxOutputLength: maxBytes }).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TransferError(`inline code is larger than ${maxBytes} bytes`);
    }
    throw new TransferError(`inline code is not gzip+base64 (${(error as Error).message})`);
  }
}

/** Waits between attempts; injected by tests so they do not sleep through the backoff. */
export type Sleep = (ms: number) => Promise<void>;

const realSleep: Sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Retries network errors and 5xx/429 (S3 throttles with 503 SlowDown); a 4xx is final. */
async function withRetries<T>(
  what: string,
  attempts: number,
  fn: () => Promise<T>,
  sleep: Sleep = realSleep,
): Promise<T> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await fn();
    } catch (error) {
      last = error;
      if (error instanceof TransferError && !/\b(5\d\d|429)\b/.test(error.message)) throw error;
      if (attempt < attempts) await sleep(250 * 2 ** (attempt - 1));
    }
  }
  throw last instanceof TransferError ? last : new TransferError(`${what} failed: ${String(last)}`);
}

/** Reads a response body, refusing more than `maxBytes`. */
async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new TransferError(`code is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Loads the program: inline (gzip+base64) or a GET of a presigned URL, at most `maxBytes`.
 * @throws TransferError when it cannot be had.
 */
export async function loadCode(
  source: CodeSource,
  options: { fetch?: Fetch; maxBytes?: number; timeoutMs?: number; sleep?: Sleep } = {},
): Promise<string> {
  const maxBytes = options.maxBytes ?? MAX_CODE_BYTES;
  if (source.kind === 'inline') return decodeInlineCode(source.gzB64, maxBytes);
  const doFetch = options.fetch ?? fetch;
  const where = redactUrl(source.url);
  const body = await withRetries(
    `GET ${where}`,
    3,
    async () => {
      const response = await doFetch(source.url, {
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new TransferError(`GET ${where} answered ${response.status}`);
      }
      return readCapped(response, maxBytes);
    },
    options.sleep,
  );
  return body.toString('utf8');
}

/**
 * Delivers the result: a PUT of JSON to a presigned URL (retried), or a file written atomically
 * (temp file, then rename), or the runner's stdout for a path of `-`.
 * @throws TransferError when it cannot be delivered.
 */
export async function deliverResult(
  result: SandboxResult,
  target: ResultTarget,
  options: { fetch?: Fetch; timeoutMs?: number; sleep?: Sleep } = {},
): Promise<void> {
  const json = JSON.stringify(result);
  if (target.kind === 'file') {
    if (target.path === '-') {
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(`${json}\n`, (error) => (error ? reject(error) : resolve())),
      );
      return;
    }
    const temp = `${target.path}.${process.pid}.tmp`;
    try {
      await writeFile(temp, json, { mode: 0o600 });
      await rename(temp, target.path);
    } catch (error) {
      throw new TransferError(`writing ${target.path} failed: ${(error as Error).message}`);
    }
    return;
  }
  const doFetch = options.fetch ?? fetch;
  const where = redactUrl(target.url);
  await withRetries(
    `PUT ${where}`,
    4,
    async () => {
      const response = await doFetch(target.url, {
        method: 'PUT',
        body: json,
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
      await response.body?.cancel();
      if (!response.ok) throw new TransferError(`PUT ${where} answered ${response.status}`);
    },
    options.sleep,
  );
}
