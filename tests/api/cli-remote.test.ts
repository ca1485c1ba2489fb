import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../functions/api/app.ts';
import { executeApiSigner, signedFetch, toHttpRequest } from '../../infra/local/cli/api-client.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';
import { runWfloCli, startSigV4Gateway } from './sigv4-gateway.ts';

// Static test keys: the gateway recomputes every signature with them; they open nothing anywhere else.
const KEYS = { accessKeyId: 'AKIDWFLOTESTKEY00001', secretAccessKey: 'wflo-test-secret-key-not-a-real-one' };
const REGION = 'eu-west-1';

let local: LocalRuntime;
let gateway: Awaited<ReturnType<typeof startSigV4Gateway>>;

beforeAll(async () => {
  local = await startLocal();
  const app = createApp({ store: local.runtime.store, engine: local.engine });
  gateway = await startSigV4Gateway(app, { region: REGION, stage: 'v1', ...KEYS });
});
afterAll(async () => {
  await gateway?.close();
  await stopLocal(local);
});

/** The real `wflo` against the gateway, with only the test keys in its environment (runWfloCli). */
const wflo = (args: string[], env: Record<string, string> = {}) =>
  runWfloCli(args, { ...KEYS, region: REGION }, env);

describe('SigV4 gateway (the test stand-in for API Gateway IAM auth)', () => {
  const signed = async (body: string, secretAccessKey = KEYS.secretAccessKey) => {
    const url = new URL(`${gateway.url}workflows/hello/executions`);
    const signer = executeApiSigner(REGION, { accessKeyId: KEYS.accessKeyId, secretAccessKey });
    const request = await signer.sign(
      toHttpRequest(url, 'POST', { 'content-type': 'application/json' }, body),
    );
    const { host: _host, ...headers } = request.headers;
    return { url, headers };
  };
  const post = (url: URL, headers: Record<string, string>, body: string) =>
    fetch(url, { method: 'POST', headers, body });

  it('accepts a request signed by the client and refuses it once tampered with', async () => {
    // Prepare
    const body = JSON.stringify({ input: { name: 'signed' } });
    const ok = await signed(body);
    const other = await signed(body);
    const wrongKey = await signed(body, 'not-the-secret');
    const laterDate = other.headers['x-amz-date']!.replace(/\d(?=Z$)/, (d) => String((Number(d) + 1) % 10));
    const before = (await local.runtime.store.listExecutions({ limit: 100 })).items.length;

    // Act
    const accepted = await post(ok.url, ok.headers, body);
    const tamperedBody = await post(other.url, other.headers, body.replace('signed', 'sneaky'));
    const tamperedHeader = await post(other.url, { ...other.headers, 'x-amz-date': laterDate }, body);
    const tamperedType = await post(other.url, { ...other.headers, 'content-type': 'text/plain' }, body);
    const tamperedPath = await post(
      new URL(`${gateway.url}workflows/agent-loop/executions`),
      other.headers,
      body,
    );
    const badSecret = await post(wrongKey.url, wrongKey.headers, body);
    const unsigned = await fetch(`${gateway.url}health`);
    await local.orchestrator.drain();

    // Assess
    expect(accepted.status).toBe(201);
    for (const res of [tamperedBody, tamperedHeader, tamperedType, tamperedPath, badSecret, unsigned]) {
      expect(res.status).toBe(403);
    }
    expect(await tamperedBody.json()).toEqual({
      message: 'The request signature we calculated does not match the signature you provided.',
    });
    expect((await local.runtime.store.listExecutions({ limit: 100 })).items.length).toBe(before + 1);
  });

  it('answers the client library with the default credential chain replaced by static keys', async () => {
    const call = signedFetch(gateway.url, { region: REGION, credentials: async () => KEYS });
    const res = await call('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });
});

describe('CLI: wflo --api-url against a SigV4-checking API', () => {
  it('run prints progress, status and the cost table; executions, steps and costs read it back', async () => {
    // Act
    const run = await wflo(['--api-url', gateway.url, 'run', 'hello', '--input', '{"name":"Sig"}']);
    const id = /▶ started hello (\S+)/.exec(run.stdout)?.[1] ?? '';
    const env = { WFLO_API_URL: gateway.url };
    const [list, steps, costs] = await Promise.all([
      wflo(['executions', '--workflow', 'hello', '--json'], env),
      wflo(['steps', id], env),
      wflo(['costs', id, '--json'], env),
    ]);

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(id).toMatch(/^hello-none-[0-9a-f]{12}$/);
    expect(run.stdout).toContain('✓ Finish');
    expect(run.stdout).toMatch(/status {3}succeeded/);
    expect(run.stdout).toContain('"greeting": "Hello, Sig!"');
    expect(run.stdout).toMatch(/^total +\$0\.\d{6}$/m);
    expect(JSON.parse(list.stdout).items.map((e: { executionId: string }) => e.executionId)).toContain(id);
    expect(steps.stdout).toMatch(/Finish +execution-finish +0 +succeeded/);
    const ledger = JSON.parse(costs.stdout) as { totalMicros: number; entries: { usdMicros: number }[] };
    expect(ledger.totalMicros).toBe(ledger.entries.reduce((sum, e) => sum + e.usdMicros, 0));
    expect(ledger.totalMicros).toBe((await local.runtime.store.getExecution(id))!.costMicros);
    // Nothing ran embedded: the client never opened a local store.
    for (const r of [run, list, steps, costs]) expect(existsSync(r.dataDir)).toBe(false);
  });

  it('run agent-loop shows the model calls and their cost, as the embedded run does', async () => {
    // Act
    const input = JSON.stringify({ goal: 'remote agent', model: TEST_MODEL });
    const run = await wflo([
      '--api-url',
      gateway.url,
      'run',
      'agent-loop',
      '--input',
      input,
      '--budget',
      '0.5',
    ]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Plan +scripted\/test-agent +\d+ in \/ \d+ out/);
    expect(run.stdout).toMatch(/^total llm +\$\d+\.\d{6}$/m);
  });

  it('fails with the 403 when the keys are wrong, and says why', async () => {
    // Act
    const r = await wflo(['--api-url', gateway.url, 'executions'], { AWS_SECRET_ACCESS_KEY: 'wrong' });

    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /ApiRequestError: GET \/executions: HTTP 403: The request signature we calculated/,
    );
  });
});
