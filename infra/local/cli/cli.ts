import { parseArgs } from 'node:util';
import {
  sinceProcessStart,
  startupBreakdown,
  startupMark,
  startupStep,
  timedStartupStep,
} from '../engine/startup-timing.ts';
import { type ApiTarget, OWNER_AWARE, ownerTarget, targetFetch } from './api-target.ts';
import { approvals, decide } from './approval-commands.ts';
import { boot, parseInput, UsageError, warnIfSandboxUnavailable } from './boot.ts';
import { cancel, executions, ofExecution, redrive, workflows } from './read-commands.ts';
import { runRemote } from './run-remote.ts';
import { taskToken } from './task-token-commands.ts';

// Node started, the TypeScript loader registered and this module's static imports evaluated.
startupMark('node + CLI modules');

// Local defaults before any handler module loads: quiet logs, no EMF metrics on stdout.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';

const USAGE = `wflo — durable AI-agent workflows, embedded on this machine or on the deployed API

Usage:
  wflo dev [--port 3000] [--host 127.0.0.1] [--allow-remote] [--unsafe-local-sandbox] [--verbose]
                                                 serve the API over the embedded runtime; a --host
                                                 other than loopback needs --allow-remote, and then
                                                 every request a bearer token (WFLO_API_TOKEN, or one
                                                 printed at start); --verbose (or WFLO_VERBOSE=1)
                                                 prints where the start's time went
  wflo run <workflow> [--input <json|@file>] [--budget <usd>] [--idempotency-key <key>] [--json]
           [--unsafe-local-sandbox]              run one execution to the end, showing each step
  wflo executions [--workflow <name>] [--status <status>] [--limit 20] [--json]
                                                 list executions, newest first
  wflo watch --workflow <name> [--after <seq>] [--json]
                                                 every event of every run of a workflow, live
                                                 (GET /stream?workflow=), until Ctrl+C
  wflo steps <executionId> [--json]              every attempt of every step of an execution
  wflo costs <executionId> [--json]              an execution's cost ledger and totals
  wflo cancel <executionId>                      stop a running execution, releasing its budget holds
  wflo redrive <executionId> [--no-wait] [--json]
                                                 run a failed, timed-out or cancelled execution again
                                                 from where it failed; finished steps are not re-run
  wflo approvals [--status pending|approved|rejected|expired|all] [--json]
                                                 approvals, pending ones by default
  wflo approve <approvalId> [--comment <text>]   approve: the waiting run goes on
  wflo reject <approvalId> [--comment <text>]    reject: the waiting run takes its rejected path
  wflo task-success <token|-> [--output <json|@file>]
                                                 SendTaskSuccess: a .waitForTaskToken Task returns
                                                 the output ({} by default); - reads the token from stdin
  wflo task-failure <token|-> [--error <name>] [--cause <text>]
                                                 SendTaskFailure: the waiting Task fails with that error
  wflo task-heartbeat <token|->                  SendTaskHeartbeat: restarts its HeartbeatSeconds clock
  wflo workflows                                 list the workflows
  wflo openapi                                   print the API's OpenAPI 3.1 document

Against the deployed API: add --api-url <url> (or set WFLO_API_URL) to run, executions, watch, steps, costs,
cancel, redrive, approvals, approve, reject, task-success, task-failure, task-heartbeat and workflows. <url> is the stack's ApiUrl output; requests are signed with SigV4 (execute-api) using the
default AWS credential chain (AWS_PROFILE, SSO, environment, instance role); the region comes from the
URL, else AWS_REGION.

Code that workflows run (code-execution, the agent loop's RUN tool) runs in a bubblewrap sandbox.
Without bubblewrap it is refused, unless --unsafe-local-sandbox: then it runs WITHOUT isolation
(for code you trust only). See docs/sandbox.md.

Environment: DATABASE_URL (PostgreSQL instead of the embedded PGlite under .wflo/), LLM_PROVIDER,
LLM_MODEL, OPENAI_BASE_URL, OPENAI_API_KEY, LLM_SCRIPT_FILE — see README.md.`;

async function dev(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'allow-remote': { type: 'boolean', default: false },
      'unsafe-local-sandbox': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const verbose = values.verbose || process.env.WFLO_VERBOSE === '1';
  // Refused before anything opens: serving other machines is a choice the user makes explicitly.
  const { loadConfig } = await import('#shared/config');
  const { remoteAccess } = await import('./remote-access.ts');
  const api = loadConfig().api;
  const host = values.host ?? api.host;
  const access = remoteAccess({ host, allowRemote: values['allow-remote'], configuredToken: api.token });
  if (!access.ok) throw new UsageError(access.reason);
  const port = values.port === undefined ? api.port : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535`);
  const booting = boot({
    command: 'dev',
    unsafeLocalSandbox: values['unsafe-local-sandbox'],
    watch: true,
    resumeWhileServing: true,
    // Said once serving: the bubblewrap probe is a blocking child process on the start's path otherwise.
    checkSandbox: false,
  });
  // The API app's modules load while the store opens instead of after it.
  const serverModule = timedStartupStep('API server modules', import('./server.ts'));
  serverModule.catch(() => undefined);
  const { config, local, claim } = await booting;
  const listening = startupStep('API server (listen)');
  const { startLocalServer } = await serverModule;
  const server = await startLocalServer(local, { port, host, token: access.token });
  listening();
  // `wflo run`, `wflo executions`, … in another terminal find this API through the data directory.
  claim?.setUrl(server.url);
  const auth = access.token ? ` \\\n    -H "authorization: Bearer $WFLO_API_TOKEN"` : '';
  const workflows = [...local.orchestrator.workflows.keys()].join(', ');
  const store =
    config.store.kind === 'pglite' ? `PGlite at ${config.store.dataDir}` : 'PostgreSQL (DATABASE_URL)';
  if (access.generated) {
    console.log(`Serving beyond this machine (--allow-remote). Every request needs this bearer token:
  export WFLO_API_TOKEN=${access.token}
`);
  }
  const readyMs = sinceProcessStart();
  if (verbose)
    console.error(`wflo: start-up, ms since the process started:\n  ${startupBreakdown().join('\n  ')}`);
  console.error(
    `wflo: serving ${(readyMs / 1000).toFixed(1)} s after the process started${verbose ? '' : ' (--verbose: where the time went)'}`,
  );
  console.log(`wflo dev — embedded runtime
  API        ${server.url}   (OpenAPI document: ${server.url}/openapi.json, metrics: ${server.url}/metrics)
  auth       ${access.token ? 'Authorization: Bearer $WFLO_API_TOKEN on every request' : 'none (this machine only)'}
  runs       at most ${config.api.maxRunsInFlight} at once (WFLO_MAX_RUNS_IN_FLIGHT); more get 429
  store      ${store}
  LLM        ${config.llm.defaultProvider} / ${config.llm.defaultModel}
  workflows  ${workflows}

Start the agent loop:
  curl -s -X POST ${server.url}/workflows/agent-loop/executions${auth} \\
    -H 'content-type: application/json' \\
    -d '{"input":{"goal":"Write a haiku about queues"},"budgetUsd":0.05}'
Then follow it:
  curl -s ${server.url}/executions/<executionId>${auth}
  curl -s ${server.url}/executions/<executionId>/steps${auth}
  curl -s ${server.url}/executions/<executionId>/costs${auth}

Ctrl+C stops the server.`);
  warnIfSandboxUnavailable(local);
  // Serving already: the runs a stopped process left are resumed now, next to the new ones.
  const resumeStarted = performance.now();
  local.resumeLeftRunning?.().then(
    (ids) => {
      if (ids.length > 0) {
        const ms = Math.round(performance.now() - resumeStarted);
        console.error(`wflo: resumed ${ids.length} run(s) left running (${ms} ms after serving)`);
      }
    },
    (error: unknown) =>
      console.error(
        `wflo: could not resume the runs left running (${(error as Error).message}); the next start tries again`,
      ),
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log(
    `\nstopping: ${local.orchestrator.running} run(s) still going are left to resume at the next start`,
  );
  await server.close();
  await local.close();
  return 0;
}

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
          overrunMicros: final.overrunMicros,
          durationMs,
        }),
      );
    } else {
      console.log(`\nstatus   ${final.status}   (${durationMs} ms)`);
      if (final.error) console.log(`error    ${JSON.stringify(final.error)}`);
      console.log(`output   ${JSON.stringify(final.output, null, 2)?.replace(/\n/g, '\n         ')}`);
      console.log(`\n${costTable(costs, final)}`);
    }
    return final.status === 'succeeded' ? 0 : 1;
  } finally {
    await local.close();
  }
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
    case 'watch':
      // Loaded on use: the SSE client is no start-up cost of the other commands.
      return (await import('./watch-command.ts')).watch(rest, target);
    case 'steps':
    case 'costs':
      return ofExecution(command, rest, target);
    case 'workflows':
      return workflows(target);
    case 'cancel':
      return cancel(rest, target);
    case 'redrive':
      return redrive(rest, target);
    case 'approvals':
      return approvals(rest, target);
    case 'approve':
    case 'reject':
      return decide(command, rest, target);
    case 'task-success':
    case 'task-failure':
    case 'task-heartbeat':
      return taskToken(command, rest, target);
    case 'openapi': {
      const { openApiDocument } = await import('../../../functions/api/app.ts');
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
