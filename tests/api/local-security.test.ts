/**
 * The local server as an attacker reaches it: a web page the user visits can make the browser send requests
 * to 127.0.0.1 (cross-origin simple requests) or, after DNS rebinding, under its own host name. These tests
 * send what such a browser sends — forged `Host`, an `Origin`, non-JSON bodies — over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.ts';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';
import { rawRequest } from '../helpers/raw-http.ts';

const TOKEN = 'wflo-test-token-0123456789abcdef';

let local: LocalRuntime;
let server: Awaited<ReturnType<typeof startLocalServer>>;
let withToken: Awaited<ReturnType<typeof startLocalServer>>;
let port: number;

beforeAll(async () => {
  local = await startLocal();
  server = await startLocalServer(local, { port: 0, host: '127.0.0.1' });
  withToken = await startLocalServer(local, { port: 0, host: '127.0.0.1', token: TOKEN });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server?.close();
  await withToken?.close();
  await stopLocal(local);
});

async function executionCount(): Promise<number> {
  return (await local.runtime.store.listExecutions({ limit: 100 })).items.length;
}

const startBody = JSON.stringify({ input: { name: 'mallory' } });

describe('Local API: only its own Host names are served (DNS rebinding)', () => {
  it.each([
    ['a rebound attacker name on the right port', () => `attacker.example:${port}`],
    ['a foreign name without a port', () => 'attacker.example'],
    ['localhost without the port', () => 'localhost'],
    ['the loopback address on another port', () => `127.0.0.1:${port + 1}`],
    ['a name that merely starts like localhost', () => `localhost.attacker.example:${port}`],
  ])('GET /executions with %s → 403, and no data in the answer', async (_, host) => {
    // Act
    const res = await rawRequest(`${server.url}/executions`, { headers: { host: host() } });

    // Assess
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body)).toMatchObject({ status: 403, title: 'Forbidden' });
    expect(res.body).not.toContain('items');
  });

  it('a start under a rebound name → 403 and nothing is written', async () => {
    // Prepare
    const before = await executionCount();

    // Act
    const res = await rawRequest(`${server.url}/workflows/hello/executions`, {
      method: 'POST',
      headers: { host: `attacker.example:${port}`, 'content-type': 'application/json' },
      body: startBody,
    });

    // Assess
    expect(res.status).toBe(403);
    expect(await executionCount()).toBe(before);
  });

  it.each([() => `127.0.0.1:${port}`, () => `localhost:${port}`, () => `[::1]:${port}`])(
    'the address it listens on (%#) is served',
    async (host) => {
      const res = await rawRequest(`${server.url}/health`, { headers: { host: host() } });
      expect(res.status).toBe(200);
    },
  );
});

describe('Local API: state-changing requests must be JSON (no cross-origin simple POST)', () => {
  it.each([
    ['text/plain', startBody],
    ['application/x-www-form-urlencoded', 'input=%7B%7D'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="input"\r\n\r\n{}\r\n--x--\r\n',
    ],
  ])('POST with %s, as a form or no-cors fetch sends it → 415, nothing written', async (type, body) => {
    // Prepare
    const before = await executionCount();

    // Act
    const res = await rawRequest(`${server.url}/workflows/hello/executions`, {
      method: 'POST',
      headers: { 'content-type': type, origin: 'http://attacker.example' },
      body,
    });

    // Assess
    expect(res.status).toBe(415);
    expect(JSON.parse(res.body)).toMatchObject({ status: 415 });
    expect(await executionCount()).toBe(before);
  });

  it('any state-changing method on any path needs JSON, before routing (future routes are covered too)', async () => {
    const res = await rawRequest(`${server.url}/executions/x`, {
      method: 'DELETE',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(res.status).toBe(415);
  });

  it('application/json with a charset is accepted', async () => {
    const res = await rawRequest(`${server.url}/workflows/hello/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: startBody,
    });
    expect(res.status).toBe(201);
    await local.orchestrator.drain();
  });
});

describe('Local API: no CORS grant to other origins', () => {
  it('a preflight from another origin gets no Access-Control-Allow-* headers', async () => {
    const res = await rawRequest(`${server.url}/workflows/hello/executions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://attacker.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('a cross-origin GET is answered without Access-Control-Allow-Origin (the page cannot read it)', async () => {
    const res = await rawRequest(`${server.url}/executions`, {
      headers: { origin: 'http://attacker.example' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

function expectSecurityHeaders(headers: RawResponse['headers'] | Headers) {
  const get = (name: string) =>
    headers instanceof Headers ? headers.get(name) : (headers[name] as string | undefined);
  expect(get('x-content-type-options')).toBe('nosniff');
  expect(get('cache-control')).toBe('no-store');
  expect(get('referrer-policy')).toBe('no-referrer');
  expect(get('x-frame-options')).toBe('DENY');
  expect(get('content-security-policy')).toMatch(/default-src 'none'/);
  expect(get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
}
type RawResponse = Awaited<ReturnType<typeof rawRequest>>;

describe('Local API: security headers on every response', () => {
  it.each([
    ['200 /health', '/health', {}, 200],
    ['404 unknown route', '/nope', {}, 404],
    ['400 bad query', '/executions?limit=0', {}, 400],
    ['403 foreign Host', '/health', { host: 'attacker.example' }, 403],
  ])('%s', async (_, path, headers, status) => {
    const res = await rawRequest(`${server.url}${path}`, { headers });
    expect(res.status).toBe(status);
    expectSecurityHeaders(res.headers);
  });

  it('the app the API Lambda runs sets them too', async () => {
    const app = createApp({ store: local.runtime.store, engine: local.engine });
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expectSecurityHeaders(res.headers);
  });
});

describe('Local API with a token (what --allow-remote turns on)', () => {
  it.each([
    ['no Authorization', {}],
    ['a wrong token', { authorization: `Bearer ${TOKEN.replace(/.$/, 'x')}` }],
    ['a shorter prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, 8)}` }],
    ['another scheme', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
  ])('%s → 401 with WWW-Authenticate, no data', async (_, headers) => {
    const res = await rawRequest(`${withToken.url}/executions`, { headers });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.body).not.toContain('items');
  });

  it('the right bearer token is served', async () => {
    const res = await rawRequest(`${withToken.url}/executions`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
  });

  it('the token does not replace the Host check', async () => {
    const res = await rawRequest(`${withToken.url}/executions`, {
      headers: { authorization: `Bearer ${TOKEN}`, host: 'attacker.example' },
    });
    expect(res.status).toBe(403);
  });
});
