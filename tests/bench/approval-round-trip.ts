/**
 * The approval round trip on the embedded engine (part of `npm run bench -- locks`): a real run of
 * tests/fixtures/approval-bench/approval-gate.asl.json (the approval-request `.waitForTaskToken` Task, then the
 * next state) on the local runtime as `wflo dev` builds it — file-backed PGlite store, the real handler, the
 * local API served over HTTP on loopback — decided by `POST /approvals/{id}/decision` as `wflo approve` sends it.
 *
 * Per round trip, all times taken on notifications, never by polling: the run starts; the pending record is
 * committed (the runtime's `approvals.request` resolves, observed through a wrapper that only timestamps);
 * the decision is posted at once; the run's handle resolves when the next state has run and its end is
 * recorded. Interleaved with the same, in the same process:
 * - `raw resume`: the same run, the same pending record, but the token answered by the engine's
 *   SendTaskSuccess directly — no HTTP, no approval checks, no decision record. The difference is what the
 *   API and the approval domain add to the engine's own resume.
 * - `pass`: approval-gate-pass.asl.json, the same workflow with the approval Task replaced by a Pass that
 *   returns the same decision: a whole run without any person, to compare with the whole approval run.
 */
import '../../infra/local/engine/polyfills.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import type { ApprovalRow } from '#shared/ports/approvals';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { percentile } from './lib.ts';

const FIXTURES = 'tests/fixtures/approval-bench';
const INPUT = { approvers: { principals: [], roles: ['reviewer'] } };

/** Figures of the approval round trip, in ms. */
export interface ApprovalRoundTrip {
  readonly iterations: number;
  readonly figures: Record<string, number>;
}

/**
 * Timestamps the commit of each pending approval: the runtime's `approvals.request` (what the handler calls)
 * is wrapped so it resolves `next()` once the record is written; the call itself and its result are unchanged.
 * Round trips run one at a time, so the next pending record is the running one's (checked by the caller).
 */
function pendingObserver(local: LocalRuntime) {
  let notify: ((row: ApprovalRow, at: number) => void) | undefined;
  const approvals = local.runtime.approvals;
  const request = approvals.request.bind(approvals);
  approvals.request = async (input) => {
    const result = await request(input);
    notify?.(result.approval, performance.now());
    return result;
  };
  /** Registered before the run starts, so a handler faster than startExecution's return is not missed. */
  return () =>
    new Promise<{ row: ApprovalRow; at: number }>((resolve) => {
      notify = (row, at) => {
        notify = undefined;
        resolve({ row, at });
      };
    });
}

/** Runs `iterations` round trips of each kind, interleaved, after `warmup` of each. */
export async function measureApprovalRoundTrip(iterations: number, warmup = 5): Promise<ApprovalRoundTrip> {
  const dir = mkdtempSync(join(tmpdir(), 'wflo-bench-approvals-'));
  const local = await createLocalRuntime(
    loadConfig({
      ...process.env,
      WFLO_DATA_DIR: dir,
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      WFLO_USER: 'alice',
      WFLO_USER_ROLES: 'reviewer',
    }),
    // No sweeper: nothing expires in a bench, and a sweep landing mid-iteration would only add noise.
    { statemachinesDir: FIXTURES, approvalSweepMs: 0 },
  );
  const server = await startLocalServer(local, { port: 0, host: '127.0.0.1' });
  const nextPending = pendingObserver(local);
  const deps = { store: local.runtime.store, engine: local.engine };
  const start = async (workflow: string) => {
    const { execution } = await startExecution(deps, { workflow, input: INPUT, budgetMicros: null });
    // The engine port started it; the orchestrator hands back the same run's handle.
    return { id: execution.id, handle: local.orchestrator.start(workflow, execution.id, execution.input) };
  };
  const ended = async (handle: ReturnType<LocalRuntime['orchestrator']['start']>, id: string) => {
    const outcome = await handle.done;
    if (outcome.status !== 'succeeded') throw new Error(`run ${id} ended ${outcome.status}`);
    return performance.now();
  };

  const pendingOf = async (id: string, asked: ReturnType<typeof nextPending>) => {
    const seen = await asked;
    if (seen.row.executionId !== id || seen.row.status !== 'pending')
      throw new Error(`expected a pending approval of ${id}, saw ${seen.row.id} of ${seen.row.executionId}`);
    return seen;
  };

  const viaApi = async () => {
    const asked = nextPending();
    const t0 = performance.now();
    const { id, handle } = await start('approval-gate');
    const { row, at: pendingAt } = await pendingOf(id, asked);
    const endAt = handle.done.then(() => performance.now());
    const t2 = performance.now();
    const res = await fetch(`${server.url}/approvals/${row.id}/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approve', comment: 'bench' }),
    });
    const body = (await res.json()) as { status?: string; decidedBy?: string };
    const t3 = performance.now();
    if (res.status !== 200 || body.status !== 'approved' || body.decidedBy !== 'alice')
      throw new Error(`decision on ${row.id} answered ${res.status} ${JSON.stringify(body)}`);
    const t4 = await endAt;
    await ended(handle, id);
    const run = await local.runtime.store.getExecution(id);
    if ((run?.output as { decidedBy?: string } | null)?.decidedBy !== 'alice')
      throw new Error(`run ${id} did not continue with the decision: ${JSON.stringify(run?.output)}`);
    return { request: pendingAt - t0, decisionToEnd: t4 - t2, response: t3 - t2, whole: t4 - t0 };
  };

  const rawResume = async () => {
    const asked = nextPending();
    const t0 = performance.now();
    const { id, handle } = await start('approval-gate');
    const { row, at: pendingAt } = await pendingOf(id, asked);
    const endAt = handle.done.then(() => performance.now());
    const t2 = performance.now();
    await local.orchestrator.sendTaskSuccess(row.taskToken, {
      approvalId: row.id,
      decision: 'approve',
      comment: 'bench',
      decidedBy: 'alice',
      decidedAt: new Date().toISOString(),
    });
    const t4 = await endAt;
    await ended(handle, id);
    return { request: pendingAt - t0, decisionToEnd: t4 - t2, whole: t4 - t0 };
  };
  const passRun = async () => {
    const t0 = performance.now();
    const { id, handle } = await start('approval-gate-pass');
    return { whole: (await ended(handle, id)) - t0 };
  };

  const api: Awaited<ReturnType<typeof viaApi>>[] = [];
  const raw: Awaited<ReturnType<typeof rawResume>>[] = [];
  const pass: number[] = [];
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      const a = await viaApi();
      const r = await rawResume();
      const p = await passRun();
      if (i < warmup) continue;
      api.push(a);
      raw.push(r);
      pass.push(p.whole);
    }
  } finally {
    await server.close();
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = (v: number) => Math.round(v * 1000) / 1000;
  /** `<label> p50 (ms)` and `<label> p99 (ms)` of `values` (only those quantiles asked for). */
  const quantiles = (label: string, values: number[], qs: readonly number[] = [50, 99]) =>
    Object.fromEntries(qs.map((q) => [`${label} p${q} (ms)`, ms(percentile(values, q))]));
  return {
    iterations,
    figures: {
      ...quantiles(
        'approval: decision → run ended',
        api.map((x) => x.decisionToEnd),
      ),
      ...quantiles(
        'approval: POST decision answered',
        api.map((x) => x.response),
        [50],
      ),
      ...quantiles(
        'approval: start → pending recorded',
        api.map((x) => x.request),
        [50],
      ),
      ...quantiles(
        'approval: whole run',
        api.map((x) => x.whole),
        [50],
      ),
      ...quantiles(
        'raw resume: SendTaskSuccess → run ended',
        raw.map((x) => x.decisionToEnd),
      ),
      ...quantiles('pass instead of approval: whole run', pass),
    },
  };
}
