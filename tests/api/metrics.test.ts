/**
 * GET /metrics on the local server: the Prometheus text a scraper reads, after real runs through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal, TEST_MODEL } from '../helpers/local.ts';

let local: LocalRuntime;
let server: Awaited<ReturnType<typeof startLocalServer>>;

beforeAll(async () => {
  local = await startLocal();
  server = await startLocalServer(local, { port: 0, host: '127.0.0.1', maxRunsInFlight: 7 });
});
afterAll(async () => {
  await server?.close();
  await stopLocal(local);
});

async function startAndFinish(workflow: string, input: unknown) {
  const res = await fetch(`${server.url}/workflows/${workflow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  expect(res.status).toBe(201);
  await local.orchestrator.drain();
}

async function scrape() {
  const res = await fetch(`${server.url}/metrics`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one sample line (`name{labels} value`), or undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(',') : [];
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}

describe('Local API: GET /metrics (Prometheus)', () => {
  it('counts runs by workflow and status, their cost and saving in dollars, step latency and cache hits', async () => {
    // Prepare: the same deterministic agent run twice (the second is served from the response cache), and hello
    const goal = `metrics ${Date.now()}`;
    const first = await scrape();
    await startAndFinish('agent-loop', { goal, model: TEST_MODEL });
    await startAndFinish('agent-loop', { goal, model: TEST_MODEL });
    await startAndFinish('hello', { name: 'prometheus' });

    // Act
    const { status, type, text } = await scrape();
    const again = await scrape();

    // Assess
    expect(first.status).toBe(200);
    expect(sample(first.text, 'wflo_executions_total', { workflow: 'agent-loop', status: 'succeeded' })).toBe(
      undefined,
    );
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(text, 'wflo_executions_total', { workflow: 'agent-loop', status: 'succeeded' })).toBe(2);
    expect(sample(text, 'wflo_executions_total', { workflow: 'hello', status: 'succeeded' })).toBe(1);
    const runs = (await local.runtime.store.listExecutions({ workflow: 'agent-loop', limit: 10 })).items;
    const costMicros = runs.reduce((s, r) => s + r.costMicros, 0);
    const savedMicros = runs.reduce((s, r) => s + r.savedMicros, 0);
    expect(savedMicros).toBe(810);
    expect(sample(text, 'wflo_execution_cost_dollars_total', { workflow: 'agent-loop' })).toBeCloseTo(
      costMicros / 1e6,
      9,
    );
    expect(sample(text, 'wflo_execution_saved_dollars_total', { workflow: 'agent-loop' })).toBeCloseTo(
      0.00081,
      9,
    );
    expect(sample(text, 'wflo_cache_hits_total', { workflow: 'agent-loop' })).toBe(3);
    const llmSteps = { workflow: 'agent-loop', activity: 'llm-invoke', status: 'succeeded' };
    expect(sample(text, 'wflo_step_duration_seconds_count', llmSteps)).toBe(6);
    expect(sample(text, 'wflo_step_duration_seconds_bucket', { ...llmSteps, le: '+Inf' })).toBe(6);
    expect(sample(text, 'wflo_step_duration_seconds_sum', llmSteps)).toBeGreaterThan(0);
    expect(sample(text, 'wflo_runs_in_flight')).toBe(0);
    expect(sample(text, 'wflo_runs_in_flight_limit')).toBe(7);
    // A second scrape counts nothing twice.
    expect(sample(again.text, 'wflo_cache_hits_total', { workflow: 'agent-loop' })).toBe(3);
    expect(sample(again.text, 'wflo_step_duration_seconds_count', llmSteps)).toBe(6);
    expect(sample(again.text, 'wflo_executions_total', { workflow: 'agent-loop', status: 'succeeded' })).toBe(
      2,
    );
  });

  it('is behind the same Host check as the rest of the API', async () => {
    const { rawRequest } = await import('../helpers/raw-http.ts');
    const res = await rawRequest(`${server.url}/metrics`, { headers: { host: 'attacker.example' } });
    expect(res.status).toBe(403);
  });

  it('is not a route of the API Lambda (its OpenAPI document has no /metrics)', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });
});
