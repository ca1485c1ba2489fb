import { describe, expect, it } from 'vitest';
import { LlmProviderError, LlmRequestInvalidError } from '#shared/errors';
import { ensureProviderError, retryAfterSeconds } from '#shared/llm/errors';
import { postJson } from '#shared/llm/http-core';

/** A fetch that records its calls and answers with `respond`, or fails as a real fetch does when aborted. */
function fakeFetch(respond: () => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = ((url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Promise<Response>((resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      Promise.resolve(respond()).then(resolve, reject);
    });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

const never = () => new Promise<Response>(() => {});
const post = (doFetch: typeof fetch, extra: { timeoutMs?: number; signal?: AbortSignal } = {}) => ({
  provider: 'test',
  url: 'http://model.test/v1/chat',
  headers: { authorization: 'Bearer k' },
  body: { prompt: 'the secret plan' },
  timeoutMs: extra.timeoutMs ?? 1_000,
  signal: extra.signal,
  fetch: doFetch,
});

describe('Function: postJson', () => {
  it('POSTs the body as JSON with the given headers and hands the parsed reply to the mapping', async () => {
    // Prepare
    const f = fakeFetch(() => Response.json({ ok: 1 }, { status: 201 }));

    // Act
    const result = await postJson(post(f.fn), (json, status) => ({ json, status }));

    // Assess
    expect(result).toEqual({ json: { ok: 1 }, status: 201 });
    expect(f.calls[0]!.url).toBe('http://model.test/v1/chat');
    expect(f.calls[0]!.init).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: '{"prompt":"the secret plan"}',
    });
    expect(f.calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
  });

  it('fails at its own timeout as a retryable error that says so', async () => {
    // Prepare
    const f = fakeFetch(never);

    // Act
    const err = await postJson(post(f.fn, { timeoutMs: 30 }), () => 0).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toBe(
      'test request to http://model.test/v1/chat timed out after 30 ms (TimeoutError)',
    );
  });

  it('fails at the caller’s deadline as a retryable error that names the deadline', async () => {
    // Prepare
    const f = fakeFetch(never);

    // Act
    const err = await postJson(
      post(f.fn, { timeoutMs: 10_000, signal: AbortSignal.timeout(30) }),
      () => 0,
    ).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/aborted at the deadline/);
  });

  it('does not call the provider when the deadline has already passed', async () => {
    // Prepare
    const f = fakeFetch(() => Response.json({}));

    // Act
    const err = await postJson(
      post(f.fn, { signal: AbortSignal.abort(new Error('no time left')) }),
      () => 0,
    ).catch((e: unknown) => e);

    // Assess
    expect(f.calls).toHaveLength(0);
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/aborted at the deadline \(Error: no time left\)/);
  });

  it('fails retryably when the body cannot be read to its end', async () => {
    // Prepare: headers arrive, then the stream errors as undici's does on a dropped connection
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"choices":['));
        controller.error(new TypeError('terminated'));
      },
    });
    const f = fakeFetch(() => new Response(body, { status: 200 }));

    // Act
    const err = await postJson(post(f.fn), () => 0).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect((err as Error).message).toMatch(/failed: TypeError: terminated/);
  });

  it.each([
    [503, { 'retry-after': '12' }, LlmProviderError, 12],
    [429, {}, LlmProviderError, undefined],
    [400, {}, LlmRequestInvalidError, undefined],
  ] as const)('maps HTTP %i (%o) by status, keeping Retry-After', async (status, headers, type, after) => {
    // Prepare
    const f = fakeFetch(() => new Response('{"error":"busy"}', { status, headers }));

    // Act
    const err = await postJson(post(f.fn), () => 0).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(type);
    expect(err).toMatchObject({
      status,
      retryAfterSeconds: after,
      message: `test responded ${status}: {"error":"busy"}`,
    });
  });

  it('fails retryably on a 200 that is not JSON, and on a reply the mapping cannot read', async () => {
    // Prepare
    const html = fakeFetch(() => new Response('<html>gateway</html>'));
    const odd = fakeFetch(() => Response.json({ choices: null }));

    // Act
    const notJson = await postJson(post(html.fn), () => 0).catch((e: unknown) => e);
    const unreadable = await postJson(
      post(odd.fn),
      (json) => (json as { choices: string[] }).choices[0],
    ).catch((e: unknown) => e);

    // Assess
    expect(notJson).toBeInstanceOf(LlmProviderError);
    expect(notJson).toMatchObject({ status: 200, message: 'test returned a body that is not JSON' });
    expect(unreadable).toBeInstanceOf(LlmProviderError);
    expect((unreadable as Error).message).toMatch(/failed: TypeError/);
  });
});

describe('Function: ensureProviderError', () => {
  it('passes classified errors through unchanged', () => {
    const invalid = new LlmRequestInvalidError('bad', 400);
    expect(ensureProviderError('p', invalid)).toBe(invalid);
  });

  it('names the network code under fetch’s bare "fetch failed"', () => {
    // Prepare
    const cause = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
    });

    // Act
    const err = ensureProviderError('p', cause, { url: 'http://127.0.0.1:9' });

    // Assess
    expect(err).toBeInstanceOf(LlmProviderError);
    expect(err.message).toBe(
      'p request to http://127.0.0.1:9 failed: TypeError: fetch failed (ECONNREFUSED)',
    );
    expect(err.cause).toBe(cause);
  });

  it('asks the classifier about failures that are neither the deadline nor the timeout', () => {
    // Prepare
    const refused = new LlmRequestInvalidError('no access', 403);

    // Act
    const classified = ensureProviderError('p', new Error('x'), {}, () => refused);
    const atDeadline = ensureProviderError(
      'p',
      new Error('x'),
      { deadline: AbortSignal.abort() },
      () => refused,
    );

    // Assess
    expect(classified).toBe(refused);
    expect(atDeadline).toBeInstanceOf(LlmProviderError);
  });
});

describe('Function: retryAfterSeconds', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['7', 7],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('reads %s as %s', (header, seconds) => {
    expect(retryAfterSeconds(header, now)).toBe(seconds);
  });
});
