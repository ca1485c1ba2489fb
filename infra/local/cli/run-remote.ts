import type { z } from '@hono/zod-openapi';
import type { CostsSchema, ExecutionSchema } from '../../../functions/api/schemas.ts';
import type { ApiClient } from './api-client.ts';

/** How often `run --api-url` asks the deployed API how the execution is doing. */
const POLL_INTERVAL_MS = 1000;

/** An execution as the API returns it. */
export type Execution = z.infer<ExecutionSchema>;
/** An execution's cost ledger as the API returns it. */
export type Costs = z.infer<CostsSchema>;

/**
 * `wflo run --api-url`: starts the execution through the deployed API, then polls it (its status, and its
 * events for the same progress lines the embedded run prints) until it ends, then prints the cost table.
 */
export async function runRemote(
  api: ApiClient,
  request: {
    workflow: string;
    input: unknown;
    budgetUsd: number | undefined;
    idempotencyKey: string | undefined;
    json: boolean;
  },
): Promise<number> {
  const { progressLine, costTable } = await import('./format.ts');
  const t0 = performance.now();
  const { status, body: started } = await api.post<Execution>(
    `/workflows/${encodeURIComponent(request.workflow)}/executions`,
    {
      input: request.input,
      ...(request.budgetUsd === undefined ? {} : { budgetUsd: request.budgetUsd }),
      ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
    },
  );
  const id = encodeURIComponent(started.executionId);
  if (!request.json) {
    if (status === 200) console.log(`(idempotency key matched execution ${started.executionId})`);
    console.log(`▶ started ${started.workflow} ${started.executionId}`);
    if (started.consoleUrl) console.log(`  console  ${started.consoleUrl}`);
  }
  let after = 0;
  const drainEvents = async () => {
    for (;;) {
      const page = await api.get<{ items: { id: number; type: string; payload: unknown }[]; lastId: number }>(
        `/executions/${id}/events?after=${after}&limit=500`,
      );
      if (page.items.length === 0) return;
      after = page.lastId;
      if (request.json) continue;
      for (const e of page.items) {
        // The start line is printed above, with the console link.
        if (e.type === 'execution.started') continue;
        const line = progressLine(e);
        if (line) console.log(line);
      }
    }
  };
  let final = started;
  for (;;) {
    await drainEvents();
    final = await api.get<Execution>(`/executions/${id}`);
    if (!['pending', 'running', 'waiting_approval'].includes(final.status)) break;
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
  await drainEvents();
  const costs = await api.get<Costs>(`/executions/${id}/costs`);
  const durationMs = Math.round(performance.now() - t0);
  if (request.json) {
    console.log(
      JSON.stringify({
        executionId: final.executionId,
        workflow: final.workflow,
        status: final.status,
        output: final.output,
        error: final.error,
        costUsd: final.costUsd,
        costMicros: final.costMicros,
        savedMicros: final.savedMicros,
        overrunMicros: final.overrunMicros,
        durationMs,
        consoleUrl: final.consoleUrl,
      }),
    );
  } else {
    console.log(`\nstatus   ${final.status}   (${durationMs} ms)`);
    if (final.error) console.log(`error    ${JSON.stringify(final.error)}`);
    console.log(`output   ${JSON.stringify(final.output, null, 2)?.replace(/\n/g, '\n         ')}`);
    console.log(`\n${costTable(costs.entries, costs)}`);
  }
  return final.status === 'succeeded' ? 0 : 1;
}
