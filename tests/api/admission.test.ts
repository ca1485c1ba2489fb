/**
 * Admission control on the local server: runs are held in flight by a sandbox stand-in that finishes only
 * when the test lets it (no sleeps), so the number in flight is exact when the next start arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import { ECS_RUN_TASK_SYNC } from '../../infra/local/engine/integrations/ecs-run-task.ts';
import type { LocalIntegration } from '../../infra/local/engine/orchestrator.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';

const LIMIT = 2;

/**
 * Sandbox runs wait at a gate until the test opens it; a run let through fails its Run state, which ends
 * it. While the gate is open, runs arriving later pass at once too, so a drain always ends.
 */
let held = 0;
let openGate: () => void = () => {};
let gate = new Promise<void>((r) => {
  openGate = r;
});
let reached: () => void = () => {};
const heldSandbox: LocalIntegration = async (_params, context) => {
  held++;
  reached();
  try {
    await Promise.race([
      gate,
      new Promise((r) => context.signal.addEventListener('abort', r, { once: true })),
    ]);
  } finally {
    held--;
  }
  throw Object.assign(new Error('let through by the test'), { name: 'States.TaskFailed' });
};

/** Lets every held run (and any that arrives) through, and waits until all runs have ended. */
async function releaseAll() {
  openGate();
  await local.orchestrator.drain();
  gate = new Promise<void>((r) => {
    openGate = r;
  });
}

/** Resolves once `n` sandbox runs are held. */
function whenHeld(n: number): Promise<void> {
  return new Promise((resolve) => {
    reached = () => {
      if (held >= n) resolve();
    };
    reached();
  });
}

let local: LocalRuntime;
let server: Awaited<ReturnType<typeof startLocalServer>>;

beforeAll(async () => {
  local = await startLocal({}, new Map([[ECS_RUN_TASK_SYNC, heldSandbox]]));
  server = await startLocalServer(local, { port: 0, host: '127.0.0.1', maxRunsInFlight: LIMIT });
});
afterAll(async () => {
  if (local) await releaseAll();
  await server?.close();
  await stopLocal(local);
});

const start = (code: string) =>
  fetch(`${server.url}/workflows/code-execution/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { language: 'javascript', code, timeoutSeconds: 10 } }),
  });

async function executionCount(): Promise<number> {
  return (await local.runtime.store.listExecutions({ limit: 100 })).items.length;
}

describe('Local API: admission control on starts', () => {
  it('at the bound a start is refused with 429 and Retry-After, nothing is written; once runs end it is admitted', async () => {
    // Prepare: LIMIT runs held in their sandbox step
    const admitted = await Promise.all(Array.from({ length: LIMIT }, (_, i) => start(`/* ${i} */`)));
    await whenHeld(LIMIT);
    const before = await executionCount();

    // Act
    const refused = await start('/* one too many */');
    const refusedBody = (await refused.json()) as Record<string, unknown>;
    const reads = await fetch(`${server.url}/executions`);
    await releaseAll();
    const later = await start('/* after the others */');
    await whenHeld(1);

    // Assess
    expect(admitted.map((r) => r.status)).toEqual([201, 201]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refusedBody).toMatchObject({
      status: 429,
      detail: expect.stringMatching(/WFLO_MAX_RUNS_IN_FLIGHT/),
    });
    expect(before).toBe(LIMIT);
    expect(await executionCount()).toBe(LIMIT + 1);
    // Reading is never refused.
    expect(reads.status).toBe(200);
    expect(later.status).toBe(201);
  });

  it('concurrent starts at the edge never admit more than the bound', async () => {
    // Prepare
    await releaseAll();

    // Act: ten starts at once
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => start(`/* burst ${i} */`)));
    await whenHeld(LIMIT);

    // Assess
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10 - LIMIT);
    expect(local.orchestrator.running).toBe(LIMIT);
  });
});
