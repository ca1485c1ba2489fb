import type { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import type { CostsSchema, ExecutionSchema } from '../../functions/api/schemas.ts';
import { apiClient, signedFetch } from '../../infra/local/cli/api-client.ts';

/**
 * Opt-in smoke suite against a deployed stack (`npm run test:deployed`): starts hello and agent-loop
 * through the real API Gateway, signed with SigV4 from the default credential chain, waits for them to
 * end, and checks their status and cost ledger. It needs WFLO_API_URL (the ApiUrl output) and credentials
 * whose principal has the CallerPolicyArn policy; it starts two executions and spends a little on the model.
 */
const API_URL = process.env.WFLO_API_URL || undefined;
/** Longest wait for one execution (a cold start of every function plus a few model calls). */
const RUN_TIMEOUT_MS = 5 * 60 * 1000;
const POLL_MS = 2000;
const ACTIVE = ['pending', 'running', 'waiting_approval'];

type Execution = z.infer<ExecutionSchema>;
type Costs = z.infer<CostsSchema>;

if (!API_URL) {
  console.warn(
    'tests/deployed: skipped — set WFLO_API_URL to the stack ApiUrl output (and AWS credentials with the ' +
      'CallerPolicyArn policy) to run the deployed smoke suite.',
  );
}

describe.skipIf(!API_URL)(`deployed API smoke (${API_URL ?? 'WFLO_API_URL not set'})`, () => {
  // Built on first use: collecting a skipped suite must not need a URL or credentials.
  let client: ReturnType<typeof apiClient> | undefined;
  const api = () => {
    client ??= apiClient(signedFetch(API_URL!));
    return client;
  };

  async function runToEnd(workflow: string, body: Record<string, unknown>) {
    const { status, body: started } = await api().post<Execution>(`/workflows/${workflow}/executions`, body);
    expect(status).toBe(201);
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    let execution = started;
    while (ACTIVE.includes(execution.status)) {
      if (Date.now() > deadline) throw new Error(`${execution.executionId} still ${execution.status}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
      execution = await api().get<Execution>(`/executions/${execution.executionId}`);
    }
    const costs = await api().get<Costs>(`/executions/${execution.executionId}/costs`);
    return { started, execution, costs };
  }

  /** The totals the API reports are the sums of the ledger rows it returns. */
  function expectTotalsMatchRows(costs: Costs) {
    const sum = costs.entries.reduce((s, e) => s + e.usdMicros, 0);
    expect(costs.totalMicros).toBe(sum);
    const byKind = Object.values(costs.byKind).reduce((s, t) => s + t.usdMicros, 0);
    expect(byKind).toBe(sum);
  }

  it(
    'hello: succeeds with its greeting, is named for and linked to the console, and its ledger adds up',
    async () => {
      // Act
      const { started, execution, costs } = await runToEnd('hello', { input: { name: 'deployed smoke' } });

      // Assess
      expect(started.executionId).toMatch(/^hello-none-[0-9a-f]{12}$/);
      expect(started.consoleUrl).toMatch(
        /^https:\/\/[a-z0-9-]+\.console\.aws\.amazon\.com\/states\/home\?region=/,
      );
      expect(started.consoleUrl).toContain(`:execution:`);
      expect(execution).toMatchObject({
        status: 'succeeded',
        output: { greeting: 'Hello, deployed smoke!' },
      });
      expectTotalsMatchRows(costs);
      expect(costs.byKind.lambda?.usdMicros ?? 0).toBeGreaterThan(0);
    },
    RUN_TIMEOUT_MS + 30_000,
  );

  it(
    'agent-loop: succeeds within its budget, and its model calls are charged to the ledger',
    async () => {
      // Act
      const { execution, costs } = await runToEnd('agent-loop', {
        input: { goal: 'Reply with the single word ok as your final answer.', maxIterations: 2 },
        budgetUsd: 0.05,
      });

      // Assess
      expect(execution.status).toBe('succeeded');
      expectTotalsMatchRows(costs);
      expect(costs.byKind.llm?.usdMicros ?? 0).toBeGreaterThan(0);
      expect(costs.totalMicros).toBeLessThanOrEqual(50_000);
    },
    RUN_TIMEOUT_MS + 30_000,
  );
});
