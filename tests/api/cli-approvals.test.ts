import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskCallbacks } from '#shared/ports/task-callbacks';
import { createApp } from '../../functions/api/app.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { requestTestApproval } from '../helpers/approvals.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';
import { runWfloCli, startSigV4Gateway } from './sigv4-gateway.ts';

// Static test keys: the gateway recomputes every signature with them; they open nothing anywhere else.
const KEYS = { accessKeyId: 'AKIDWFLOTESTKEY00002', secretAccessKey: 'wflo-test-secret-key-not-a-real-two' };
const REGION = 'eu-west-1';

let local: LocalRuntime;
let gateway: Awaited<ReturnType<typeof startSigV4Gateway>>;
/** What the engine side was asked to do (the waiting task resumed or failed). */
const sent: { kind: string; token: string; error?: string }[] = [];

beforeAll(async () => {
  local = await startLocal();
  const callbacks: TaskCallbacks = {
    sendTaskSuccess: async (token) => void sent.push({ kind: 'success', token }),
    sendTaskFailure: async (token, error) => void sent.push({ kind: 'failure', token, error }),
  };
  const app = createApp({
    store: local.runtime.store,
    engine: local.engine,
    approvals: {
      store: local.runtime.approvals,
      callbacks,
      identify: () => ({ principal: 'arn:aws:iam::123456789012:user/alice', roles: [] }),
    },
  });
  gateway = await startSigV4Gateway(app, { region: REGION, stage: 'v1', ...KEYS });
});
afterAll(async () => {
  await gateway?.close();
  await stopLocal(local);
});

const wflo = (args: string[]) => runWfloCli([...args, '--api-url', gateway.url], { ...KEYS, region: REGION });

/** A pending approval that alice may decide. */
const pending = (title: string) =>
  requestTestApproval(
    { store: local.runtime.store, approvals: local.runtime.approvals },
    { title, approvers: { principals: ['arn:aws:iam::123456789012:user/alice'], roles: [] } },
  );

describe('CLI: wflo approvals | approve | reject (against the API, signed)', () => {
  it('lists pending approvals, approves one with a comment and rejects another', async () => {
    // Prepare
    const a = await pending('Apply patch A?');
    const b = await pending('Apply patch B?');

    // Act
    const list = await wflo(['approvals']);
    const approve = await wflo(['approve', a.approvalId, '--comment', 'lgtm']);
    const reject = await wflo(['reject', b.approvalId]);
    const again = await wflo(['approve', a.approvalId]);

    // Assess
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${a.approvalId}\\s+pending.*Apply patch A\\?`));
    expect(approve).toMatchObject({ code: 0 });
    expect(approve.stdout).toContain(`${a.approvalId}: approved by arn:aws:iam::123456789012:user/alice`);
    expect(reject.stdout).toContain(`${b.approvalId}: rejected`);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/HTTP 409: .*already approved/);
    expect(sent).toEqual([
      { kind: 'success', token: a.token },
      { kind: 'failure', token: b.token, error: 'ApprovalRejectedError' },
    ]);
    const recorded = await local.runtime.approvals.get(a.approvalId);
    expect(recorded?.decision).toEqual({ decision: 'approve', comment: 'lgtm' });
  });

  it('refuses a command without an id as a usage error', async () => {
    const res = await wflo(['approve']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/wflo approve takes exactly one approval id/);
  });
});
