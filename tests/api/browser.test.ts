/**
 * The local API against a real browser (headless Chromium, when installed: Debian's
 * `chromium-headless-shell`, or WFLO_TEST_CHROMIUM=<binary>; skipped without one). The browser resolves
 * `attacker.test` to 127.0.0.1 (`--host-resolver-rules`), which is what DNS rebinding achieves, and loads an
 * attacker's page from another origin that tries to read the API and start runs on it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';

function findChromium(): string | undefined {
  if (process.env.WFLO_TEST_CHROMIUM) return process.env.WFLO_TEST_CHROMIUM;
  const names = ['chromium-headless-shell', 'chromium', 'chromium-browser', 'google-chrome'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of names) if (existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
const chromium = findChromium();

/** Loads `url` in headless Chromium and returns the DOM once the page has settled. */
function dumpDom(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const browser = spawn(
      chromium!,
      [
        '--headless',
        // Root in a container: Chromium's own sandbox needs user namespaces it may not get.
        '--no-sandbox',
        '--disable-gpu',
        '--host-resolver-rules=MAP attacker.test 127.0.0.1',
        '--virtual-time-budget=10000',
        '--dump-dom',
        url,
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    browser.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    browser.once('error', reject);
    browser.once('exit', () => resolve(out));
  });
}

let local: LocalRuntime;
let api: Awaited<ReturnType<typeof startLocalServer>>;
let attacker: Server;
let apiPort: number;
let attackerPort: number;
let secretId: string;
/** Every request the API server received: method, path, Content-Type. */
const received: string[] = [];

/** The attacker's page: tries to read executions and to start runs, and writes what happened into the DOM. */
const attackPage = (target: string) => `<!doctype html><html><body>pending
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" action="${target}/workflows/hello/executions" enctype="text/plain" target="sink">
  <input name='{"input":{"name":"form","x":"' value='"}}'>
</form>
<script>
(async () => {
  const body = JSON.stringify({ input: { name: 'csrf' } });
  const attempt = async (p) => { try { const r = await p; return r.type === 'opaque' ? 'opaque' : r.status; } catch (e) { return e.name; } };
  const r = {};
  r.read = await attempt(fetch('${target}/executions'));
  r.simplePost = await attempt(fetch('${target}/workflows/hello/executions', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }));
  r.jsonPost = await attempt(fetch('${target}/workflows/hello/executions', { method: 'POST', headers: { 'content-type': 'application/json' }, body }));
  await new Promise((done) => { document.querySelector('iframe').onload = done; document.getElementById('f').submit(); });
  r.form = 'submitted';
  document.body.textContent = 'RESULT' + JSON.stringify(r);
})();
</script></body></html>`;

beforeAll(async () => {
  if (!chromium) return;
  local = await startLocal();
  api = await startLocalServer(local, { port: 0, host: '127.0.0.1' });
  apiPort = Number(new URL(api.url).port);
  api.server.on('request', (req: IncomingMessage) =>
    received.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? '-'}`),
  );
  attacker = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(attackPage(`http://127.0.0.1:${apiPort}`));
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerPort = (attacker.address() as { port: number }).port;
  // One execution a successful attack could read.
  const res = await fetch(`${api.url}/workflows/hello/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { name: 'secret' } }),
  });
  expect(res.status).toBe(201);
  secretId = ((await res.json()) as { executionId: string }).executionId;
  await local.orchestrator.drain();
});
afterAll(async () => {
  if (!chromium) return;
  await new Promise((r) => attacker.close(r));
  await api.close();
  await stopLocal(local);
});

async function executionCount(): Promise<number> {
  return (await local.runtime.store.listExecutions({ limit: 100 })).items.length;
}

describe.skipIf(!chromium)('Local API in a real browser (headless Chromium)', () => {
  it('after DNS rebinding (attacker.test → 127.0.0.1) the browser gets 403, not the executions', async () => {
    // Act
    const dom = await dumpDom(`http://attacker.test:${apiPort}/executions`);

    // Assess
    expect(dom).toContain('"status":403');
    expect(secretId).toMatch(/^hello-/);
    expect(dom).not.toContain(secretId);
    expect(dom).not.toContain('"items"');
  });

  it('a cross-origin page can neither read the API nor start a run (form, no-cors and JSON fetch)', async () => {
    // Prepare
    const before = await executionCount();
    received.length = 0;

    // Act
    const dom = await dumpDom(`http://attacker.test:${attackerPort}/`);

    // Assess
    const result = JSON.parse(/RESULT(\{.*?\})/.exec(dom)?.[1] ?? 'null') as Record<string, unknown>;
    expect(result).toEqual({
      read: 'TypeError',
      // Even the opaque answer is withheld: Cross-Origin-Resource-Policy: same-origin.
      simplePost: 'TypeError',
      jsonPost: 'TypeError',
      form: 'submitted',
    });
    // The browser did send the simple requests (a preflight only for JSON), and none started anything.
    expect(received).toEqual(
      expect.arrayContaining([
        'GET /executions -',
        'POST /workflows/hello/executions text/plain',
        'OPTIONS /workflows/hello/executions -',
      ]),
    );
    // The no-cors fetch and the form, both text/plain; the JSON one never left the preflight.
    expect(received.filter((r) => r === 'POST /workflows/hello/executions text/plain')).toHaveLength(2);
    expect(received).not.toContain('POST /workflows/hello/executions application/json');
    expect(await executionCount()).toBe(before);
  });
});
