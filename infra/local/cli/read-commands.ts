import { parseArgs } from 'node:util';
import type { z } from '@hono/zod-openapi';
import type { StepSchema } from '../../../functions/api/schemas.ts';
import type { ApiClient, ApiFetch } from './api-client.ts';
import { type ApiTarget, targetFetch } from './api-target.ts';
import { boot, UsageError } from './boot.ts';
import type { Costs, Execution } from './run-remote.ts';

/* The read commands (executions, steps, costs, workflows), against the deployed API or the embedded store. */

/**
 * The API the read commands talk to: the deployed one (signed) with --api-url, else the same app in process
 * over the embedded store. `close` releases the embedded runtime.
 */
export async function openApi(
  target: ApiTarget | undefined,
): Promise<{ api: ApiClient; fetch: ApiFetch; close(): Promise<void> }> {
  const { apiClient } = await import('./api-client.ts');
  if (target) {
    const fetch = await targetFetch(target);
    return { api: apiClient(fetch), fetch, close: async () => {} };
  }
  const { local } = await boot({ command: 'read', readOnly: true });
  const { createApp } = await import('../../../functions/api/app.ts');
  const { TaskCallbackHub } = await import('../engine/callbacks.ts');
  const app = createApp({
    store: local.runtime.store,
    engine: local.engine,
    defaultBudgetMicros: local.runtime.config.defaultBudgetMicros,
    // Readable here; a decision needs the engine that runs the waiting task (`wflo dev`), so it answers 503.
    approvals: {
      store: local.runtime.approvals,
      identify: () => local.runtime.config.approvals.localUser,
    },
    // No engine runs here, but a task token's answer is a journal record: the next `wflo dev` resumes the
    // waiting run with it (or fails it with States.HeartbeatTimeout once its heartbeat deadline has passed).
    taskTokens: new TaskCallbackHub(local.runtime.store),
  });
  const fetch: ApiFetch = (path, init) => Promise.resolve(app.request(path, init));
  return { api: apiClient(fetch), fetch, close: () => local.close() };
}

/** `wflo executions`: the newest executions, filtered by workflow or status. */
export async function executions(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workflow: { type: 'string', short: 'w' },
      status: { type: 'string', short: 's' },
      limit: { type: 'string', short: 'n' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError('wflo executions takes no positional arguments');
  const query = new URLSearchParams();
  if (values.workflow) query.set('workflow', values.workflow);
  if (values.status) query.set('status', values.status);
  if (values.limit) query.set('limit', values.limit);
  const { api, close } = await openApi(target);
  try {
    const page = await api.get<{ items: Execution[]; nextCursor: string | null }>(
      `/executions${query.size ? `?${query}` : ''}`,
    );
    if (values.json) console.log(JSON.stringify(page));
    else console.log((await import('./format.ts')).executionsTable(page.items));
    return 0;
  } finally {
    await close();
  }
}

/** `wflo cancel <id>`: POST /executions/{id}/cancel on the API in use. */
export async function cancel(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('wflo cancel takes exactly one execution id');
  const { api, close } = await openApi(target);
  try {
    const { body } = await api.post<Execution>(`/executions/${encodeURIComponent(id)}/cancel`, {});
    console.log(`${body.executionId}: ${body.status}`);
    return 0;
  } finally {
    await close();
  }
}

/**
 * `wflo redrive <id>`: POST /executions/{id}/redrive on the API in use, then follows the run to its end
 * (`--no-wait` returns at once). Prints what the steps it did not run again had cost.
 */
export async function redrive(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'no-wait': { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('wflo redrive takes exactly one execution id');
  const { api, close } = await openApi(target);
  try {
    const path = `/executions/${encodeURIComponent(id)}`;
    const { body } = await api.post<Execution & { redrive: { redriveCount: number; savedUsd: number } }>(
      `${path}/redrive`,
      {},
    );
    if (!values.json) {
      console.log(
        `${body.executionId}: redrive ${body.redrive.redriveCount}, running again from where it failed ` +
          `($${body.redrive.savedUsd.toFixed(6)} of finished steps not spent again)`,
      );
    }
    let final: Execution = body;
    while (!values['no-wait'] && (final.status === 'running' || final.status === 'pending')) {
      await new Promise((r) => setTimeout(r, 250));
      final = await api.get<Execution>(path);
    }
    if (values.json) console.log(JSON.stringify({ ...final, redrive: body.redrive }));
    else console.log(`${final.executionId}: ${final.status}`);
    return final.status === 'succeeded' || final.status === 'running' ? 0 : 1;
  } finally {
    await close();
  }
}

/** `wflo steps <id>` and `wflo costs <id>`: one execution's steps or cost ledger. */
export async function ofExecution(
  what: 'steps' | 'costs',
  args: string[],
  target: ApiTarget | undefined,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError(`wflo ${what} takes exactly one execution id`);
  const { api, close } = await openApi(target);
  try {
    const format = await import('./format.ts');
    const path = `/executions/${encodeURIComponent(id)}/${what}`;
    if (what === 'steps') {
      const steps = await api.get<{ items: z.infer<StepSchema>[] }>(path);
      console.log(values.json ? JSON.stringify(steps) : format.stepsTable(steps.items));
    } else {
      const costs = await api.get<Costs>(path);
      console.log(values.json ? JSON.stringify(costs) : format.costTable(costs.entries, costs));
    }
    return 0;
  } finally {
    await close();
  }
}

/** `wflo workflows`: the workflows this runtime (or the deployed API) runs. */
export async function workflows(target: ApiTarget | undefined): Promise<number> {
  if (target) {
    const { api } = await openApi(target);
    const { items } = await api.get<{ items: { name: string; description: string }[] }>('/workflows');
    for (const w of items) console.log(`${w.name.padEnd(16)} ${w.description}`);
    return 0;
  }
  const { loadConfig } = await import('#shared/config');
  const { loadWorkflows } = await import('../engine/workflows.ts');
  for (const w of loadWorkflows(loadConfig().statemachinesDir).values())
    console.log(`${w.name.padEnd(16)} ${w.description}`);
  return 0;
}
