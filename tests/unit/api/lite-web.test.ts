import { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { setCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { streamText } from 'hono/streaming';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  installLiteWeb,
  LiteHeaders,
  LiteRequest,
  LiteResponse,
  liteWebMaterialisations,
} from '../../../functions/api/lite-web.ts';
import { apiSecurityHeaders } from '../../../functions/api/security-headers.ts';

/*
 * The stand-ins are judged against Node's own classes: every scripted use runs on both, and must give the
 * same values, or throw the same kind of error.
 */
const Native = { Headers: globalThis.Headers, Request: globalThis.Request, Response: globalThis.Response };
type Classes = { Headers: typeof Headers; Request: typeof Request; Response: typeof Response };
const Lite = { Headers: LiteHeaders, Request: LiteRequest, Response: LiteResponse } as unknown as Classes;

type Outcome = { value: unknown } | { error: string };
async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    return { value: await f() };
  } catch (e) {
    return { error: (e as Error).constructor.name };
  }
}

/** Runs a use with Node's classes and with the stand-ins; both outcomes. */
async function both(use: (c: Classes) => unknown): Promise<{ native: Outcome; lite: Outcome }> {
  return { native: await outcome(() => use(Native)), lite: await outcome(() => use(Lite)) };
}

let uninstall: () => void = () => {};
beforeAll(() => {
  uninstall = installLiteWeb();
});
afterAll(() => uninstall());

const headerUses: Record<string, (c: Classes) => unknown> = {
  'record init, lower-cased sorted iteration': ({ Headers }) => [
    ...new Headers({ 'X-B': '2', 'x-a': ' 1\t', Accept: 'a/b' }),
  ],
  'pair init with repeats combined by ", "': ({ Headers }) => {
    const h = new Headers([
      ['vary', 'a'],
      ['Vary', 'b'],
    ]);
    return [h.get('VARY'), [...h.keys()], [...h.values()]];
  },
  'set-cookie kept apart in iteration and getSetCookie': ({ Headers }) => {
    const h = new Headers();
    h.append('set-cookie', 'a=1; Path=/');
    h.append('Set-Cookie', 'b=2');
    h.set('z', 'last');
    return [[...h.entries()], h.get('set-cookie'), h.getSetCookie()];
  },
  'set replaces, delete removes, has answers': ({ Headers }) => {
    const h = new Headers({ a: '1', 'set-cookie': 'c=1' });
    h.set('A', '2');
    h.append('set-cookie', 'd=2');
    h.set('set-cookie', 'e=3');
    h.delete('missing');
    const before = [h.has('a'), h.get('a'), h.getSetCookie()];
    h.delete('set-cookie');
    return [before, h.has('set-cookie'), h.get('set-cookie'), h.getSetCookie(), [...h]];
  },
  'forEach gives value, name, headers': ({ Headers }) => {
    const h = new Headers({ b: '2', a: '1' });
    const seen: unknown[] = [];
    h.forEach(function (this: unknown, v, k, self) {
      seen.push([v, k, self === h, this]);
    }, 'this');
    return seen;
  },
  'copies another Headers (either kind)': ({ Headers }) => [
    ...new Headers(new Headers({ a: '1', 'set-cookie': 'x=1' })),
    ...new Headers(new Native.Headers({ b: '2' })),
    ...new Headers(new LiteHeaders({ c: '3' }) as unknown as Headers),
  ],
  'invalid name refused': ({ Headers }) => new Headers({ 'a b': '1' }),
  'invalid name refused by get': ({ Headers }) => new Headers().get('a:b'),
  'value with LF refused': ({ Headers }) => new Headers({ a: 'x\ny' }),
  'value with NUL refused': ({ Headers }) => new Headers().append('a', 'x\0y'),
  'value beyond a byte refused': ({ Headers }) => new Headers({ a: '\u20ac' }),
  'Latin-1 value kept': ({ Headers }) => new Headers({ a: 'caf\u00e9' }).get('a'),
  'inner whitespace kept, edges trimmed': ({ Headers }) => new Headers({ a: '\r\n x  y \t' }).get('a'),
  'pair of three refused': ({ Headers }) => new Headers([['a', 'b', 'c']] as unknown as [string, string][]),
  'string init refused': ({ Headers }) => new Headers('a' as unknown as [string, string][]),
  'numbers as values': ({ Headers }) => new Headers({ n: 5 as unknown as string }).get('n'),
  'string tag': ({ Headers }) => Object.prototype.toString.call(new Headers()),
};

describe('LiteHeaders (fetch Headers without undici)', () => {
  for (const [name, use] of Object.entries(headerUses)) {
    it(`behaves as Node's Headers: ${name}`, async () => {
      // Act
      const { native, lite } = await both(use);

      // Assess
      expect(lite).toEqual(native);
    });
  }
});

const requestUses: Record<string, (c: Classes) => unknown> = {
  'URL normalised as URL does it': ({ Request }) =>
    [
      'https://ABC.example.com:443/a/./b/../c?x=1 2&y=%41#frag',
      'https://h/caf\u00e9/a%20b',
      'https://h/executions/%00',
      'https://h',
    ].map((u) => new Request(u).url),
  'method and headers kept': ({ Request }) => {
    const r = new Request('https://h/x', { method: 'DELETE', headers: { 'X-A': '1' } });
    return [r.method, [...r.headers], r.body, r.bodyUsed];
  },
  'GET is the default method': ({ Request }) => new Request('https://h/').method,
  'lower-case method normalised': ({ Request }) => new Request('https://h/', { method: 'get' }).method,
  'forbidden method refused': ({ Request }) => new Request('https://h/', { method: 'CONNECT' }),
  'relative URL refused': ({ Request }) => new Request('/x'),
  'URL with credentials refused': ({ Request }) => new Request('https://u:p@h/'),
  'GET with a body refused': ({ Request }) => new Request('https://h/', { method: 'GET', body: 'x' }),
  'body read through': async ({ Request }) => {
    const r = new Request('https://h/', { method: 'POST', body: new TextEncoder().encode('{"a":1}') });
    return [await r.json(), r.bodyUsed];
  },
  'bodiless text() is empty': async ({ Request }) => {
    const r = new Request('https://h/', { method: 'DELETE' });
    return [await r.text(), r.bodyUsed, r.signal.aborted, r.redirect];
  },
  'clone keeps URL, method and headers': ({ Request }) => {
    const r = new Request('https://h/q?a=1', { method: 'PUT', headers: { a: '1' } }).clone();
    return [r.url, r.method, [...r.headers]];
  },
  'string tag': ({ Request }) => Object.prototype.toString.call(new Request('https://h/')),
  'a Request as input, with a body (as bodyLimit rebuilds one)': async ({ Request }) => {
    const first = new Request('https://h/x?a=1', { method: 'POST', headers: { a: '1' } });
    const r = new Request(first, { body: new TextEncoder().encode('{"b":2}') });
    return [r.url, r.method, [...r.headers], await r.json()];
  },
  'a Request as input, as is': ({ Request }) => {
    const r = new Request(new Request('https://h/y', { method: 'DELETE', headers: { b: '2' } }));
    return [r.url, r.method, [...r.headers]];
  },
};

describe('LiteRequest (a bodiless request without undici)', () => {
  for (const [name, use] of Object.entries(requestUses)) {
    it(`behaves as Node's Request: ${name}`, async () => {
      // Act
      const { native, lite } = await both(use);

      // Assess
      expect(lite).toEqual(native);
    });
  }

  it('builds no real Request for URL, method, headers and body, and one when asked for more', () => {
    // Prepare
    const before = liteWebMaterialisations();
    const r = new LiteRequest('https://h/x?q=1', { method: 'GET', headers: { a: '1' } });

    // Act
    const cheap = [r.url, r.method, r.headers.get('a'), r.body, r.bodyUsed];
    const afterCheap = liteWebMaterialisations();
    void (r as unknown as Request).signal;

    // Assess
    expect(cheap).toEqual(['https://h/x?q=1', 'GET', '1', null, false]);
    expect(afterCheap).toBe(before);
    expect(liteWebMaterialisations()).toBe(before + 1);
  });
});

const responseUses: Record<string, (c: Classes) => unknown> = {
  'string body gets text/plain': async ({ Response }) => {
    const r = new Response('hi');
    return [r.status, r.statusText, r.ok, [...r.headers], await r.text()];
  },
  'given content type kept': async ({ Response }) => {
    const r = new Response('{"a":1}', { status: 201, headers: { 'Content-Type': 'application/json' } });
    return [r.status, r.ok, [...r.headers], await r.json()];
  },
  'no body': async ({ Response }) => {
    const r = new Response(null, { status: 404 });
    return [r.status, r.ok, r.body, [...r.headers], await r.text(), await r.text(), r.bodyUsed];
  },
  'empty string is a body': async ({ Response }) => {
    const r = new Response('');
    return [r.body === null, [...r.headers], await r.text()];
  },
  'arrayBuffer of UTF-8': async ({ Response }) => [
    ...new Uint8Array(await new Response('caf\u00e9 \u20ac').arrayBuffer()),
  ],
  'second read refused': async ({ Response }) => {
    const r = new Response('x');
    await r.text();
    return [r.bodyUsed, await r.text()];
  },
  'a Response as init': async ({ Response }) => {
    const first = new Response('a', { status: 202, headers: { 'x-a': '1' } });
    const r = new Response('b', first as unknown as ConstructorParameters<typeof Response>[1]);
    return [r.status, [...r.headers], await r.text()];
  },
  'a stream body with a Response as init (as Context rebuilds an answer)': async ({ Response }) => {
    const first = new Response('a', { status: 202, headers: { 'x-a': '1', 'set-cookie': 'c=1' } });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const r = new Response(stream, first as unknown as ConstructorParameters<typeof Response>[1]);
    return [r.status, [...r.headers], await r.text()];
  },
  'status out of range refused': ({ Response }) => new Response('x', { status: 600 }),
  'body with 204 refused': ({ Response }) => new Response('x', { status: 204 }),
  '204 without body': ({ Response }) => new Response(null, { status: 204 }).status,
  'statusText kept': ({ Response }) => new Response(null, { status: 200, statusText: 'Fine' }).statusText,
  'stream body read': async ({ Response }) => {
    const r = new Response('abc');
    const reader = r.body!.getReader();
    const chunk = await reader.read();
    return [new TextDecoder().decode(chunk.value), r.bodyUsed];
  },
  'bytes body': async ({ Response }) => {
    const r = new Response(new Uint8Array([1, 2, 255]), { headers: { 'content-type': 'image/png' } });
    return [[...r.headers], [...new Uint8Array(await r.arrayBuffer())]];
  },
  'clone then read both': async ({ Response }) => {
    const r = new Response('x', { status: 201 });
    const c = r.clone();
    return [await r.text(), await c.text(), c.status];
  },
  'Response.json': async ({ Response }) => {
    const r = Response.json({ a: 1 }, { status: 202 });
    return [r.status, [...r.headers], await r.text()];
  },
  'type, url, redirected': ({ Response }) => {
    const r = new Response('x');
    return [r.type, r.url, r.redirected];
  },
  'string tag': ({ Response }) => Object.prototype.toString.call(new Response()),
};

describe('LiteResponse (a string answer without undici)', () => {
  for (const [name, use] of Object.entries(responseUses)) {
    it(`behaves as Node's Response: ${name}`, async () => {
      // Act
      const { native, lite } = await both(use);

      // Assess
      expect(lite).toEqual(native);
    });
  }

  it('answers instanceof for its own objects and for real ones', () => {
    // Prepare
    const lite = new LiteResponse('x');
    const real = new Native.Response('x');

    // Act / Assess
    expect(lite instanceof LiteResponse).toBe(true);
    expect(real instanceof LiteResponse).toBe(true);
    expect({ status: 200 } instanceof LiteResponse).toBe(false);
    expect(new LiteHeaders() instanceof LiteHeaders).toBe(true);
    expect(new Native.Headers() instanceof LiteHeaders).toBe(true);
    expect(new LiteRequest('https://h/') instanceof LiteRequest).toBe(true);
    expect(new Native.Request('https://h/') instanceof LiteRequest).toBe(true);
    expect(lite instanceof LiteRequest).toBe(false);
  });

  it('is what the globals name once installed', () => {
    // Act / Assess
    expect(globalThis.Response).toBe(LiteResponse);
    expect(globalThis.Request).toBe(LiteRequest);
    expect(globalThis.Headers).toBe(LiteHeaders);
  });
});

/** A Hono app with what the API's answers use: security headers, JSON, a Location, cookies, bytes, a stream. */
function app() {
  const a = new Hono();
  a.use('*', apiSecurityHeaders());
  a.get('/items/:id', (c) =>
    c.json({
      id: c.req.param('id'),
      q: c.req.query('q') ?? null,
      tags: c.req.queries('tag') ?? null,
      agent: c.req.header('user-agent') ?? null,
      accept: c.req.header('accept') ?? null,
      url: c.req.url,
    }),
  );
  a.post('/items', async (c) => {
    const body = await c.req.json();
    c.header('location', '/items/1');
    return c.json({ got: body }, 201);
  });
  a.get('/cookies', (c) => {
    setCookie(c, 'a', '1', { path: '/' });
    setCookie(c, 'b', '2');
    c.header('vary', 'accept');
    c.header('vary', 'origin', { append: true });
    return c.text('ok');
  });
  a.get('/binary', (c) => c.body(new Uint8Array([0, 1, 2, 255]), 200, { 'content-type': 'image/png' }));
  a.get('/empty', (c) => c.body(null, 204));
  a.get('/redirect', (c) => c.redirect('/items/1'));
  a.get('/stream', (c) =>
    streamText(c, async (s) => {
      await s.write('streamed');
    }),
  );
  a.get('/teapot', () => {
    throw new HTTPException(418, { message: 'short and stout' });
  });
  a.get('/boom', () => {
    throw new Error('boom');
  });
  a.onError((err, c) =>
    err instanceof HTTPException
      ? c.json({ title: err.message }, err.status)
      : c.json({ title: 'internal' }, 500),
  );
  return a;
}

const HOST = 'abc.execute-api.eu-west-1.amazonaws.com';
/** An API Gateway REST (v1) proxy event, as the API Lambda receives it. */
function v1(
  method: string,
  path: string,
  extra: Record<string, unknown> = {},
  multi = true,
): Record<string, unknown> {
  return {
    httpMethod: method,
    path,
    resource: '/{proxy+}',
    headers: { host: HOST },
    multiValueHeaders: multi ? { host: [HOST] } : null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: { stage: 'prod', requestId: 'r', identity: {} },
    body: null,
    isBase64Encoded: false,
    ...extra,
  };
}

const EVENTS: Record<string, Record<string, unknown>> = {
  'GET with query strings and repeated headers': v1('GET', '/items/42', {
    queryStringParameters: { q: 'a b&c', tag: 'y' },
    multiValueQueryStringParameters: { q: ['a b&c'], tag: ['x', 'y'] },
    headers: { host: HOST, 'user-agent': 'ua/1', accept: 'b' },
    multiValueHeaders: { host: [HOST], 'user-agent': ['ua/1'], accept: ['a', 'b'] },
  }),
  'GET without multi-value fields (single-value answer headers)': v1(
    'GET',
    '/items/7',
    { queryStringParameters: { q: '\u00e9' }, headers: { host: HOST, 'user-agent': 'caf\u00e9' } },
    false,
  ),
  'GET with an encoded and a dot-segment path': v1('GET', '/items/../items/a%20b'),
  'POST with a JSON body': v1('POST', '/items', {
    headers: { host: HOST, 'content-type': 'application/json' },
    body: '{"name":"x"}',
  }),
  'POST with a base64 body': v1('POST', '/items', {
    headers: { host: HOST, 'content-type': 'application/json' },
    body: Buffer.from('{"name":"\u00e9"}').toString('base64'),
    isBase64Encoded: true,
  }),
  'POST with malformed JSON': v1('POST', '/items', {
    headers: { host: HOST, 'content-type': 'application/json' },
    body: '{',
  }),
  'cookies and a combined header': v1('GET', '/cookies'),
  'cookies without multi-value fields': v1('GET', '/cookies', {}, false),
  'binary answer in base64': v1('GET', '/binary'),
  '204 without body': v1('GET', '/empty'),
  redirect: v1('GET', '/redirect'),
  'streamed answer': v1('GET', '/stream'),
  'HTTPException status': v1('GET', '/teapot'),
  'unhandled error': v1('GET', '/boom'),
  'no route': v1('GET', '/nowhere'),
  HEAD: v1('HEAD', '/items/1'),
  'header value with a line feed (refused as 400)': v1('GET', '/items/1', {
    headers: { host: HOST, 'x-bad': 'a\nb' },
    multiValueHeaders: {},
  }),
  'HTTP API (v2) event': {
    version: '2.0',
    rawPath: '/items/9',
    rawQueryString: 'q=1&tag=a&tag=b',
    cookies: ['s=1', 't=2'],
    headers: { host: HOST, accept: 'x' },
    requestContext: { http: { method: 'GET', path: '/items/9' }, domainName: HOST },
    isBase64Encoded: false,
  },
};

/** Lambda answers for every event through Hono's adapter, with whatever classes the globals name now. */
async function answers(): Promise<Record<string, unknown>> {
  const h = handle(app());
  const out: Record<string, unknown> = {};
  for (const [name, event] of Object.entries(EVENTS)) {
    out[name] = await outcome(() =>
      h(event as unknown as Parameters<typeof h>[0], {} as Parameters<typeof h>[1]),
    );
  }
  return out;
}

describe('the API Lambda adapter over the stand-ins', () => {
  let native: Record<string, unknown>;
  let lite: Record<string, unknown>;
  const built: Record<string, number> = {};
  beforeAll(async () => {
    // Hono's adapter logs the refused header value; the answers are what is compared.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
    // Node's classes first (the stand-ins put aside), then the stand-ins, one event at a time for the counts.
    uninstall();
    native = await answers();
    uninstall = installLiteWeb();
    const h = handle(app());
    lite = {};
    for (const [name, event] of Object.entries(EVENTS)) {
      const before = liteWebMaterialisations();
      lite[name] = await outcome(() =>
        h(event as unknown as Parameters<typeof h>[0], {} as Parameters<typeof h>[1]),
      );
      built[name] = liteWebMaterialisations() - before;
    }
    quiet.mockRestore();
  });

  for (const name of Object.keys(EVENTS)) {
    it(`maps the event and the answer as with Node's classes: ${name}`, () => {
      // Assess
      expect(lite[name]).toEqual(native[name]);
      expect((native[name] as { value?: unknown }).value).toBeDefined();
    });
  }

  it('builds no real Request or Response for bodiless requests answered with JSON or text', () => {
    // Assess
    for (const name of [
      'GET with query strings and repeated headers',
      'GET without multi-value fields (single-value answer headers)',
      'GET with an encoded and a dot-segment path',
      'cookies and a combined header',
      'HTTPException status',
      'unhandled error',
      'no route',
      'HEAD',
      'HTTP API (v2) event',
    ]) {
      expect({ name, built: built[name] }).toEqual({ name, built: 0 });
    }
    expect(built['POST with a JSON body']).toBeGreaterThan(0);
    expect(built['streamed answer']).toBeGreaterThan(0);
  });
});
