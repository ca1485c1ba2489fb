import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { z } from '@hono/zod-openapi';
import type { CostsSchema, ExecutionSchema, StepSchema } from '../../functions/api/schemas.ts';
import type { ApiClient } from './api-client.ts';
import type { LocalRuntime } from './runtime.ts';

// Local defaults before any handler module loads: quiet logs, no EMF metrics on stdout.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const USAGE = `wflo — durable AI-agent workflows, embedded on this machine or on the deployed API

Usage:
  wflo dev [--port 3000] [--host 127.0.0.1] [--unsafe-local-sandbox]
                                                 serve the API over the embedded runtime
  wflo run <workflow> [--input <json|@file>] [--budget <usd>] [--idempotency-key <key>] [--json]
           [--unsafe-local-sandbox]              run one execution to the end, showing each step
  wflo executions [--workflow <name>] [--status <status>] [--limit 20] [--json]
                                                 list executions, newest first
  wflo steps <executionId> [--json]              every attempt of every step of an execution
  wflo costs <executionId> [--json]              an execution's cost ledger and totals
  wflo cancel <executionId>                      stop a running execution, releasing its budget holds
  wflo workflows                                 list the workflows
  wflo openapi                                   print the API's OpenAPI 3.1 document

Against the deployed API: add --api-url <url> (or set WFLO_API_URL) to run, executions, steps, costs,
cancel and workflows. <url> is the stack's ApiUrl output; requests are signed with SigV4 (execute-api) using the
default AWS credential chain (AWS_PROFILE, SSO, environment, instance role); the region comes from the
URL, else AWS_REGION.

Code that workflows run (code-execution, the agent loop's RUN tool) runs in a bubblewrap sandbox.
Without bubblewrap it is refused, unless --unsafe-local-sandbox: then it runs WITHOUT isolation
(for code you trust only). See docs/sandbox.md.

Environment: DATABASE_URL (PostgreSQL instead of the embedded PGlite under .wflo/), LLM_PROVIDER,
LLM_MODEL, OPENAI_BASE_URL, OPENAI_API_KEY, LLM_SCRIPT_FILE — see README.md.`;

class UsageError extends Error {}

function parseInput(value: string | undefined): unknown {
  if (value === undefined) return {};
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--input is not valid JSON: ${(err as Error).message}`);
  }
}

const UNSAFE_WARNING =
  'WARNING: --unsafe-local-sandbox: where bubblewrap is missing, code that workflows run executes as a plain ' +
  'process with NO filesystem, network or process isolation: it can read your files and reach your network. ' +
  'Use it only for code you trust.';

async function boot(options: { command: string; unsafeLocalSandbox?: boolean; readOnly?: boolean }) {
  if (options.unsafeLocalSandbox) {
    process.env.SANDBOX_UNSAFE_LOCAL = 'true';
    console.error(UNSAFE_WARNING);
  }
  const { loadConfig } = await import('#shared/config');
  const { createLocalRuntime } = await import('./runtime.ts');
  const config = loadConfig();
  // One process per embedded data directory (PGlite is single-process): claimed before it is opened.
  const claim =
    config.store.kind === 'pglite' && config.dataDir !== 'memory://'
      ? (await import('./data-dir-owner.ts')).claimDataDir(config.dataDir, `wflo ${options.command}`)
      : undefined;
  let local: LocalRuntime;
  try {
    local = await createLocalRuntime(config);
  } catch (error) {
    claim?.release();
    throw error;
  }
  const close = local.close.bind(local);
  local.close = async () => {
    try {
      await close();
    } finally {
      claim?.release();
    }
  };
  // Reading executions runs no code: the sandbox warning would only be noise there.
  if (!options.readOnly) warnIfSandboxUnavailable(local);
  return { config, local, claim };
}

/** Says up front when the workflows that run code will be refused here, and what to do about it. */
function warnIfSandboxUnavailable(local: LocalRuntime) {
  const runningCode = [...local.orchestrator.workflows.values()]
    .filter((w) => JSON.stringify(w.definition).includes('"arn:aws:states:::ecs:runTask'))
    .map((w) => w.name);
  if (runningCode.length === 0) return;
  try {
    if (local.sandbox.mode().kind === 'unsafe') {
      console.error('wflo: bubblewrap not found: code runs WITHOUT isolation (--unsafe-local-sandbox).');
    }
  } catch (error) {
    console.error(
      `wflo: ${(error as Error).message}\n  Until then, steps that run code fail (workflows: ${runningCode.join(', ')}).`,
    );
  }
}

async function dev(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'unsafe-local-sandbox': { type: 'boolean', default: false },
    },
  });
  const { config, local, claim } = await boot({
    command: 'dev',
    unsafeLocalSandbox: values['unsafe-local-sandbox'],
  });
  const { startLocalServer } = await import('./server.ts');
  const port = values.port === undefined ? config.api.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535`);
  const server = await startLocalServer(local, { port, host: values.host ?? config.api.host });
  // `wflo run`, `wflo executions`, … in another terminal find this API through the data directory.
  claim?.setUrl(server.url);
  const workflows = [...local.orchestrator.workflows.keys()].join(', ');
  const store =
    config.store.kind === 'pglite' ? `PGlite at ${config.store.dataDir}` : 'PostgreSQL (DATABASE_URL)';
  console.log(`wflo dev — embedded runtime
  API        ${server.url}   (OpenAPI document: ${server.url}/openapi.json)
  store      ${store}
  LLM        ${config.llm.defaultProvider} / ${config.llm.defaultModel}
  workflows  ${workflows}

Start the agent loop:
  curl -s -X POST ${server.url}/workflows/agent-loop/executions \\
    -H 'content-type: application/json' \\
    -d '{"input":{"goal":"Write a haiku about queues"},"budgetUsd":0.05}'
Then follow it:
  curl -s ${server.url}/executions/<executionId>
  curl -s ${server.url}/executions/<executionId>/steps
  curl -s ${server.url}/executions/<executionId>/costs

Ctrl+C stops the server.`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('\nstopping: waiting for running executions…');
  await server.close();
  await local.close();
  return 0;
}

/** How often `run --api-url` asks the deployed API how the execution is doing. */
const POLL_INTERVAL_MS = 1000;

async function run(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      input: { type: 'string', short: 'i' },
      budget: { type: 'string', short: 'b' },
      'idempotency-key': { type: 'string' },
      json: { type: 'boolean', default: false },
      'unsafe-local-sandbox': { type: 'boolean', default: false },
    },
  });
  const workflow = positionals[0];
  if (!workflow || positionals.length > 1) throw new UsageError('wflo run takes exactly one workflow name');
  const input = parseInput(values.input);
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw new UsageError('--input must be a JSON object');
  const { usdToMicros, microsToUsd } = await import('#shared/money');
  let budgetMicros: number | null = null;
  if (values.budget !== undefined) {
    try {
      budgetMicros = usdToMicros(values.budget);
    } catch (err) {
      throw new UsageError(`--budget: ${(err as Error).message}`);
    }
  }
  if (target) {
    if (values['unsafe-local-sandbox']) {
      throw new UsageError('--unsafe-local-sandbox applies to the embedded runtime only, not with --api-url');
    }
    const { apiClient } = await import('./api-client.ts');
    return runRemote(apiClient(await targetFetch(target)), {
      workflow,
      input,
      budgetUsd: budgetMicros === null ? undefined : microsToUsd(budgetMicros),
      idempotencyKey: values['idempotency-key'],
      json: values.json,
    });
  }
  const { local } = await boot({ command: 'run', unsafeLocalSandbox: values['unsafe-local-sandbox'] });
  try {
    const { startExecution } = await import('#shared/executions');
    const { progressLine, costTable } = await import('./format.ts');
    const t0 = performance.now();
    const { execution, created } = await startExecution(
      {
        store: local.runtime.store,
        engine: local.engine,
        defaultBudgetMicros: local.runtime.config.defaultBudgetMicros,
      },
      { workflow, input, budgetMicros, idempotencyKey: values['idempotency-key'] ?? null },
    );
    const store = local.runtime.store;
    const handle = local.orchestrator.start(workflow, execution.id, execution.input);
    let after = 0;
    const drainEvents = async () => {
      for (;;) {
        const events = await store.listEvents(execution.id, after, 500);
        if (events.length === 0) return;
        after = events.at(-1)!.id;
        if (values.json) continue;
        for (const e of events) {
          const line = progressLine(e);
          if (line) console.log(line);
        }
      }
    };
    if (!values.json && !created) console.log(`(idempotency key matched execution ${execution.id})`);
    let finished = false;
    void handle.done.then(() => {
      finished = true;
    });
    while (!finished) {
      await drainEvents();
      await new Promise((r) => setTimeout(r, 50));
    }
    await drainEvents();
    const final = (await store.getExecution(execution.id))!;
    const costs = await store.listCosts(execution.id);
    const durationMs = Math.round(performance.now() - t0);
    if (values.json) {
      console.log(
        JSON.stringify({
          executionId: final.id,
          workflow: final.workflow,
          status: final.status,
          output: final.output,
          error: final.error,
          costUsd: microsToUsd(final.costMicros),
          costMicros: final.costMicros,
          savedMicros: final.savedMicros,
          durationMs,
        }),
      );
    } else {
      console.log(`\nstatus   ${final.status}   (${durationMs} ms)`);
      if (final.error) console.log(`error    ${JSON.stringify(final.error)}`);
      console.log(`output   ${JSON.stringify(final.output, null, 2)?.replace(/\n/g, '\n         ')}`);
      console.log(`\n${costTable(costs)}`);
    }
    return final.status === 'succeeded' ? 0 : 1;
  } finally {
    await local.close();
  }
}

type Execution = z.infer<typeof ExecutionSchema>;
type Costs = z.infer<typeof CostsSchema>;

/**
 * `wflo run --api-url`: starts the execution through the deployed API, then polls it (its status, and its
 * events for the same progress lines the embedded run prints) until it ends, then prints the cost table.
 */
async function runRemote(
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
        durationMs,
        consoleUrl: final.consoleUrl,
      }),
    );
  } else {
    console.log(`\nstatus   ${final.status}   (${durationMs} ms)`);
    if (final.error) console.log(`error    ${JSON.stringify(final.error)}`);
    console.log(`output   ${JSON.stringify(final.output, null, 2)?.replace(/\n/g, '\n         ')}`);
    console.log(`\n${costTable(costs.entries)}`);
  }
  return final.status === 'succeeded' ? 0 : 1;
}

/**
 * The API the read commands talk to: the deployed one (signed) with --api-url, else the same app in process
 * over the embedded store. `close` releases the embedded runtime.
 */
async function openApi(target: ApiTarget | undefined): Promise<{ api: ApiClient; close(): Promise<void> }> {
  const { apiClient } = await import('./api-client.ts');
  if (target) return { api: apiClient(await targetFetch(target)), close: async () => {} };
  const { local } = await boot({ command: 'read', readOnly: true });
  const { createApp } = await import('../../functions/api/app.ts');
  const app = createApp({
    store: local.runtime.store,
    engine: local.engine,
    defaultBudgetMicros: local.runtime.config.defaultBudgetMicros,
  });
  return {
    api: apiClient((path, init) => Promise.resolve(app.request(path, init))),
    close: () => local.close(),
  };
}

async function executions(args: string[], target: ApiTarget | undefined): Promise<number> {
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
async function cancel(args: string[], target: ApiTarget | undefined): Promise<number> {
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

/** `wflo steps <id>` and `wflo costs <id>`: one execution's steps or cost ledger. */
async function ofExecution(
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
      const steps = await api.get<{ items: z.infer<typeof StepSchema>[] }>(path);
      console.log(values.json ? JSON.stringify(steps) : format.stepsTable(steps.items));
    } else {
      const costs = await api.get<Costs>(path);
      console.log(values.json ? JSON.stringify(costs) : format.costTable(costs.entries));
    }
    return 0;
  } finally {
    await close();
  }
}

async function workflows(target: ApiTarget | undefined): Promise<number> {
  if (target) {
    const { api } = await openApi(target);
    const { items } = await api.get<{ items: { name: string; description: string }[] }>('/workflows');
    for (const w of items) console.log(`${w.name.padEnd(16)} ${w.description}`);
    return 0;
  }
  const { loadConfig } = await import('#shared/config');
  const { loadWorkflows } = await import('./workflows.ts');
  for (const w of loadWorkflows(loadConfig().statemachinesDir).values())
    console.log(`${w.name.padEnd(16)} ${w.description}`);
  return 0;
}

/**
 * Takes the global `--api-url <url>` (or `--api-url=<url>`) out of the arguments, wherever it is; falls
 * back to WFLO_API_URL. An empty value means the embedded runtime.
 */
function takeApiUrl(argv: readonly string[]): { apiUrl: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let apiUrl = process.env.WFLO_API_URL || undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--api-url') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError('--api-url needs a URL');
      apiUrl = value;
    } else if (arg.startsWith('--api-url=')) {
      apiUrl = arg.slice('--api-url='.length);
    } else {
      rest.push(arg);
    }
  }
  if (apiUrl) {
    let url: URL;
    try {
      url = new URL(apiUrl);
    } catch {
      throw new UsageError(`--api-url is not a URL: ${apiUrl}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UsageError(`--api-url must be an http(s) URL: ${apiUrl}`);
    }
  }
  return { apiUrl: apiUrl || undefined, rest };
}

/**
 * The API a command talks to instead of opening the embedded runtime itself: the deployed one (`--api-url`,
 * signed with SigV4), or the local `wflo dev` that owns the embedded data directory (plain HTTP).
 */
interface ApiTarget {
  readonly url: string;
  readonly signed: boolean;
}

async function targetFetch(target: ApiTarget) {
  const { localFetch, signedFetch } = await import('./api-client.ts');
  return target.signed ? signedFetch(target.url) : localFetch(target.url);
}

/** Commands that go through the owner's API when another process holds the embedded data directory. */
const OWNER_AWARE = new Set(['run', 'executions', 'steps', 'costs', 'workflows', 'cancel']);

/**
 * When a live `wflo dev` owns the embedded data directory, its API (so `wflo run` next to it submits there
 * and no row is lost); when another process without an API owns it, a refusal naming that process.
 */
async function ownerTarget(): Promise<ApiTarget | undefined> {
  const { loadConfig } = await import('#shared/config');
  const config = loadConfig();
  if (config.store.kind !== 'pglite' || config.dataDir === 'memory://') return undefined;
  const { currentOwner, DataDirBusyError } = await import('./data-dir-owner.ts');
  const owner = currentOwner(config.dataDir);
  if (!owner) return undefined;
  if (!owner.url) throw new DataDirBusyError(config.dataDir, owner);
  console.error(`wflo: using ${owner.command} at ${owner.url} (it owns ${config.dataDir})`);
  return { url: owner.url, signed: false };
}

async function main(argv: string[]): Promise<number> {
  const { apiUrl, rest: args } = takeApiUrl(argv);
  const [command, ...rest] = args;
  if (apiUrl && (command === 'dev' || command === 'openapi')) {
    throw new UsageError(`wflo ${command} runs on this machine; it takes no --api-url`);
  }
  const target: ApiTarget | undefined = apiUrl
    ? { url: apiUrl, signed: true }
    : command && OWNER_AWARE.has(command)
      ? await ownerTarget()
      : undefined;
  switch (command) {
    case 'dev':
      return dev(rest);
    case 'run':
      return run(rest, target);
    case 'executions':
      return executions(rest, target);
    case 'steps':
    case 'costs':
      return ofExecution(command, rest, target);
    case 'workflows':
      return workflows(target);
    case 'cancel':
      return cancel(rest, target);
    case 'openapi': {
      const { openApiDocument } = await import('../../functions/api/app.ts');
      console.log(JSON.stringify(openApiDocument(), null, 2));
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      console.error(`wflo: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    const e = err as Error;
    console.error(`wflo: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`);
    process.exit(1);
  },
);
