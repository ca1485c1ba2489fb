import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { LocalRuntime } from './runtime.ts';

// Local defaults before any handler module loads: quiet logs, no EMF metrics on stdout.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const USAGE = `wflo — durable AI-agent workflows, embedded on this machine

Usage:
  wflo dev [--port 3000] [--host 127.0.0.1] [--unsafe-local-sandbox]
                                                 serve the API over the embedded runtime
  wflo run <workflow> [--input <json|@file>] [--budget <usd>] [--idempotency-key <key>] [--json]
           [--unsafe-local-sandbox]              run one execution to the end, showing each step
  wflo workflows                                 list the workflows in statemachines/
  wflo openapi                                   print the API's OpenAPI 3.1 document

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

async function boot(options: { unsafeLocalSandbox?: boolean } = {}) {
  if (options.unsafeLocalSandbox) {
    process.env.SANDBOX_UNSAFE_LOCAL = 'true';
    console.error(UNSAFE_WARNING);
  }
  const { loadConfig } = await import('#shared/config');
  const { createLocalRuntime } = await import('./runtime.ts');
  const config = loadConfig();
  const local = await createLocalRuntime(config);
  warnIfSandboxUnavailable(local);
  return { config, local };
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
  const { config, local } = await boot({ unsafeLocalSandbox: values['unsafe-local-sandbox'] });
  const { startLocalServer } = await import('./server.ts');
  const port = values.port === undefined ? config.api.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535`);
  const server = await startLocalServer(local, { port, host: values.host ?? config.api.host });
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

async function run(args: string[]): Promise<number> {
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
  const { local } = await boot({ unsafeLocalSandbox: values['unsafe-local-sandbox'] });
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

async function workflows(): Promise<number> {
  const { loadConfig } = await import('#shared/config');
  const { loadWorkflows } = await import('./workflows.ts');
  for (const w of loadWorkflows(loadConfig().statemachinesDir).values())
    console.log(`${w.name.padEnd(16)} ${w.description}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'dev':
      return dev(rest);
    case 'run':
      return run(rest);
    case 'workflows':
      return workflows();
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
