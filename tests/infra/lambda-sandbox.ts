import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { REPO_ROOT } from '../../infra/constructs/wflo-function.ts';

/*
 * A stand-in for the Lambda Node.js runtime, outside the repository: a directory whose node_modules holds
 * only what the runtime provides (the AWS SDK v3 and its dependencies), a Lambda-like environment, and a
 * fresh `node` process per bundle that imports it and runs its first invocation up to the first network
 * call. Shared by tests/infra/bundles.test.ts and the cold-start bench.
 */

/** Where every AWS call of a sandboxed bundle goes: a loopback port nothing listens on (refused at once). */
export const REFUSING_ENDPOINT = 'http://127.0.0.1:9';

/**
 * The packages the Lambda runtime provides, as found in this repository: every top-level `@aws-sdk/*`
 * package and the closure of their dependencies (`@smithy/*`, `@aws-crypto/*`, tslib, fast-xml-parser, …).
 * Returns package names (e.g. `@smithy/core`).
 */
export function runtimeProvidedPackages(root = REPO_ROOT): string[] {
  const top = join(root, 'node_modules');
  const found = new Set<string>();
  const visit = (name: string, fromDir: string): void => {
    // Node's lookup: the nearest node_modules first, then the parents'; only top-level copies are listed
    // (a nested copy travels with the package that holds it).
    for (let dir = fromDir; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) {
        if (dirname(candidate) === top || dirname(dirname(candidate)) === top) {
          if (found.has(name)) return;
          found.add(name);
        }
        const pkg = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8')) as {
          dependencies?: Record<string, string>;
          optionalDependencies?: Record<string, string>;
        };
        for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }))
          visit(dep, candidate);
        return;
      }
      if (dir === root || dirname(dir) === dir) return;
    }
  };
  for (const name of readdirSync(join(top, '@aws-sdk'))) visit(`@aws-sdk/${name}`, root);
  return [...found].sort();
}

/** Copies the runtime-provided packages into `<dir>/node_modules` (a real copy: no way back into the repo). */
export function installRuntimePackages(dir: string, packages = runtimeProvidedPackages()): void {
  for (const name of packages) {
    cpSync(join(REPO_ROOT, 'node_modules', name), join(dir, 'node_modules', name), {
      recursive: true,
      dereference: true,
    });
  }
}

/** True when `path` is inside the repository (where node_modules would hide a missing module). */
export function isInsideRepo(path: string): boolean {
  const rel = relative(REPO_ROOT, path);
  return !rel.startsWith('..') && !rel.startsWith('/');
}

/** The `$$` fields a Task passes as `context` (TASK_CONTEXT_PARAMETERS), as every activity receives them. */
const STEP_CONTEXT = {
  Execution: { Name: 'init-check' },
  State: { Name: 'InitCheck', EnteredTime: '2026-11-29T00:00:00.000Z', RetryCount: 0 },
  StateMachine: { Name: 'hello' },
};

/**
 * The event of each entry point's first invocation, chosen so that it reaches the first AWS call (the store,
 * Secrets Manager, …) with everything before it built: config, clients, adapters. Keyed by entry file.
 */
export const INIT_EVENTS: Readonly<Record<string, unknown>> = {
  'functions/activities/execution-finish.ts': { status: 'succeeded', context: STEP_CONTEXT },
  'functions/activities/llm-invoke.ts': { prompt: 'hello', context: STEP_CONTEXT },
  'functions/activities/sandbox-prepare.ts': { language: 'python', code: 'print(1)', context: STEP_CONTEXT },
  'functions/activities/sandbox-collect.ts': { context: STEP_CONTEXT },
  'functions/activities/approval-request.ts': {
    context: STEP_CONTEXT,
    taskToken: 'init-check-token',
    title: 'init check',
    approvers: { roles: ['reviewer'] },
    timeoutSeconds: 60,
  },
  // The lock activities' first AWS call is the step row (the store), before the lock.
  'functions/activities/lock-acquire.ts': { context: STEP_CONTEXT, name: 'init-check', ttlSeconds: 10 },
  'functions/activities/lock-release.ts': { context: STEP_CONTEXT, name: 'init-check', owner: 'init-check' },
  'functions/activities/document-write.ts': {
    context: STEP_CONTEXT,
    document: 'init-check',
    content: {},
    fencingToken: 1,
  },
  'functions/api/handler.ts': {
    httpMethod: 'GET',
    path: '/executions/init-check',
    resource: '/{proxy+}',
    headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: 'executions/init-check' },
    stageVariables: null,
    requestContext: { stage: 'prod', requestId: 'init-check', identity: {} },
    body: null,
    isBase64Encoded: false,
  },
  // API Gateway REST in STREAM mode passes the same proxy event; the first AWS call is the store's (Data API).
  'functions/api/stream-handler.ts': {
    httpMethod: 'GET',
    path: '/executions/init-check/stream',
    resource: '/executions/{id}/stream',
    headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { id: 'init-check' },
    stageVariables: null,
    requestContext: { stage: 'prod', requestId: 'init-check', identity: {} },
    body: null,
    isBase64Encoded: false,
  },
  // EventBridge → SQS → the projector: one status change in an SQS batch.
  'functions/events/execution-status.ts': {
    Records: [
      {
        messageId: 'init-check',
        eventSource: 'aws:sqs',
        body: JSON.stringify({
          'detail-type': 'Step Functions Execution Status Change',
          detail: { name: 'init-check', status: 'SUCCEEDED', output: '{}' },
        }),
      },
    ],
  },
  // An EventBridge scheduled event; the reconciler reads only its Lambda context's deadline.
  'functions/events/reconciler.ts': {
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    detail: {},
  },
  // An EventBridge scheduled event; the approval sweeper reads nothing from it.
  'functions/events/approval-sweeper.ts': {
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    detail: {},
  },
  'functions/custom-resources/migrations.ts': {
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Wflo-dev-Data/1',
    RequestId: 'init-check',
    LogicalResourceId: 'Migrations',
    ResourceType: 'Custom::WfloMigrations',
    ResourceProperties: {
      ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
      ClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo-dev',
      SecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-dev-db-AbCdEf',
      Database: 'wflo',
      MigrationsHash: 'init-check',
    },
  },
  // A scheduled tick; the relay's first AWS call is the Data API read of the outbox.
  'functions/events/outbox-relay.ts': { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
  // The topics resource's first network call is the Kafka admin connection (refused on loopback).
  'functions/custom-resources/kafka-topics.ts': {
    RequestType: 'Create',
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    ResponseURL: 'https://example.invalid/response',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Wflo-dev-Data/1',
    RequestId: 'init-check',
    LogicalResourceId: 'Topics',
    ResourceType: 'Custom::WfloKafkaTopics',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider' },
  },
  // One MSK batch with a run end (value: base64 JSON, as Lambda delivers it); the first AWS call is SNS Publish.
  'functions/events/run-notifier.ts': {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/wflo-dev/abc',
    bootstrapServers: 'b-1.example:9098',
    records: {
      'wflo.execution-events-0': [
        {
          topic: 'wflo.execution-events',
          partition: 0,
          offset: 0,
          timestamp: 0,
          timestampType: 'CREATE_TIME',
          key: Buffer.from('init-check').toString('base64'),
          value: Buffer.from(
            JSON.stringify({
              eventId: 'init-check',
              type: 'execution.succeeded',
              executionId: 'init-check',
              sequence: 1,
              time: '2026-11-29T00:00:00.000Z',
              payload: {},
            }),
          ).toString('base64'),
          headers: [],
        },
      ],
    },
  },
};

/**
 * The child process: imports the bundle, checks its handler, invokes it once with a Lambda-like context,
 * and prints one JSON line with the outcome and the CPU time of import + first invocation.
 * `process.cpuUsage()` is read before the import, so the figure covers the bundle's own cost, not Node's start.
 */
const RUNNER = `
const [bundle, eventJson, mode] = process.argv.slice(2);
// The Node.js runtime's global for response streaming (awslambda.streamifyResponse): a streaming handler is
// called here with a sink, and its body is the invocation's value.
const { Writable } = await import('node:stream');
globalThis.awslambda ??= {
  streamifyResponse: (fn) => async (event, context) => {
    let body = '';
    const sink = new Writable({ write(chunk, _enc, done) { body += chunk; done(); } });
    await fn(event, sink, context);
    return body;
  },
  HttpResponseStream: { from: (stream) => stream },
};
const out = (o) => process.stdout.write('\\n@@RESULT@@' + JSON.stringify(o) + '\\n');
const describe = (e) => {
  const root = e && typeof e === 'object' ? e : { message: String(e) };
  const codes = [];
  // Causes and the errors an AggregateError gathers (the Kafka client's "metadata failed 3 times"), a few levels deep.
  const walk = (x, depth) => {
    if (!x || typeof x !== 'object' || depth > 5) return;
    if (x.code) codes.push(String(x.code));
    walk(x.cause, depth + 1);
    if (Array.isArray(x.errors)) for (const inner of x.errors) walk(inner, depth + 1);
  };
  walk(root, 0);
  return { name: root.name, code: codes[0], codes, message: String(root.message ?? root).slice(0, 500), stack: String(root.stack ?? '').slice(0, 1500) };
};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let mod;
try {
  mod = await import(bundle);
} catch (e) {
  out({ stage: 'import', error: describe(e) });
  process.exit(0);
}
const importCpu = process.cpuUsage(cpu0);
if (typeof mod.handler !== 'function') {
  out({ stage: 'handler', error: { name: 'NoHandler', message: 'the bundle exports no handler function (exports: ' + Object.keys(mod).join(', ') + ')' } });
  process.exit(0);
}
const deadline = Date.now() + 30000;
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:' + process.env.AWS_REGION + ':123456789012:function:' + process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, awsRequestId: 'init-check', logGroupName: '/aws/lambda/x', logStreamName: 'x',
  callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => deadline - Date.now(),
  done() {}, fail() {}, succeed() {},
};
let outcome;
try {
  const value = mode === 'import' ? undefined : await mod.handler(JSON.parse(eventJson), context);
  outcome = { stage: 'done', value: value === undefined ? null : JSON.stringify(value).slice(0, 300) };
} catch (e) {
  outcome = { stage: 'invoke', error: describe(e) };
}
const cpu = process.cpuUsage(cpu0);
// Whether anything evaluated undici (Node's fetch, Headers, Request, Response: ~18 ms of CPU on first touch).
const undiciLoaded = process.moduleLoadList.some((m) => m.includes('internal/deps/undici'));
out({ ...outcome, importCpuMicros: importCpu.user + importCpu.system, cpuMicros: cpu.user + cpu.system, wallMs: performance.now() - t0, undiciLoaded });
process.exit(0);
`;

/** Writes the runner next to the bundles (outside the repository). */
export function writeRunner(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'lambda-runner.mjs');
  writeFileSync(path, RUNNER);
  return path;
}

export interface SandboxOutcome {
  readonly stage: 'import' | 'handler' | 'invoke' | 'done';
  readonly error?: { name?: string; code?: string; codes?: string[]; message: string; stack?: string };
  readonly value?: string | null;
  readonly importCpuMicros?: number;
  readonly cpuMicros?: number;
  readonly wallMs?: number;
  /** Whether the process evaluated undici (Node's fetch and its Headers, Request, Response) by the end. */
  readonly undiciLoaded?: boolean;
  /** Everything the process wrote (logs), for failure messages. */
  readonly output: string;
}

/**
 * The environment Lambda gives a function (region, name, memory, credentials from the role, task root),
 * plus the function's own variables; every AWS endpoint points at {@link REFUSING_ENDPOINT}. Nothing is
 * inherited from this process (no NODE_OPTIONS, no NODE_PATH).
 */
export function lambdaEnvironment(
  functionName: string,
  taskRoot: string,
  variables: Readonly<Record<string, string>>,
): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    LAMBDA_TASK_ROOT: taskRoot,
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    AWS_ACCESS_KEY_ID: 'ASIAINITCHECK0000000',
    AWS_SECRET_ACCESS_KEY: 'init-check-secret-access-key-000000000000',
    AWS_SESSION_TOKEN: 'init-check-session-token',
    // Lambda sets the trace header of the invocation; not sampled, so nothing would be sent.
    _X_AMZN_TRACE_ID: 'Root=1-674a0000-000000000000000000000000;Parent=0000000000000000;Sampled=0',
    ...variables,
    // After the function's variables: no AWS call of the check may leave this machine.
    AWS_ENDPOINT_URL: REFUSING_ENDPOINT,
    AWS_MAX_ATTEMPTS: '1',
  };
}

/** Imports `<dir>/index.mjs` in a fresh node process with `env` and runs one invocation with `event`. */
export function runBundle(options: {
  runner: string;
  bundle: string;
  env: Readonly<Record<string, string>>;
  event: unknown;
  mode?: 'invoke' | 'import';
  nodeArgs?: readonly string[];
  timeoutMs?: number;
}): Promise<SandboxOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...(options.nodeArgs ?? []),
        options.runner,
        options.bundle,
        JSON.stringify(options.event ?? {}),
        options.mode ?? 'invoke',
      ],
      { cwd: dirname(options.bundle), env: { ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = output.split('\n').find((l) => l.startsWith('@@RESULT@@'));
      if (!line) {
        resolve({
          stage: 'import',
          error: { name: 'NoResult', message: `the process exited with ${code} before reporting` },
          output,
        });
        return;
      }
      resolve({ ...(JSON.parse(line.slice('@@RESULT@@'.length)) as Omit<SandboxOutcome, 'output'>), output });
    });
  });
}

/** Error codes of a call that reached for the network and found nothing there (what the check expects). */
export const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * True when the invocation got as far as a network call: its error (or one of its causes) has a network
 * code, or, where the handler turns errors into a response (the API's 500), its log names one.
 */
export function reachedNetwork(outcome: SandboxOutcome): boolean {
  const codes = [outcome.error?.code, ...(outcome.error?.codes ?? [])];
  return (
    codes.some((c) => c !== undefined && NETWORK_ERROR_CODES.has(c)) ||
    [...NETWORK_ERROR_CODES].some((c) => outcome.output.includes(c))
  );
}

/** Error codes and names that mean a module could not be loaded (what the check exists to catch). */
export function isModuleError(error: SandboxOutcome['error']): boolean {
  if (!error) return false;
  const codes = [error.code, ...(error.codes ?? [])];
  return (
    codes.some(
      (c) =>
        c === 'ERR_MODULE_NOT_FOUND' || c === 'MODULE_NOT_FOUND' || c === 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    ) || /Cannot find (package|module)|Dynamic require of/.test(error.message)
  );
}

/** The package a module-resolution error names (`Cannot find package 'x' imported from …`). */
export function missingModule(error: SandboxOutcome['error']): string | undefined {
  return (
    error?.message.match(/Cannot find (?:package|module) '([^']+)'/)?.[1] ??
    error?.message.match(/Dynamic require of "([^"]+)"/)?.[1]
  );
}

/**
 * The specifiers of the dynamic `import("…")` calls a bundle keeps (string literals only): what it loads
 * lazily at run time, after its init check has passed (an external package, or a relative chunk).
 */
export function dynamicImportSpecifiers(source: string): string[] {
  return [...new Set([...source.matchAll(/\bimport\(\s*(["'`])([^"'`]+)\1\s*\)/g)].map((m) => m[2]!))].sort();
}

/**
 * Imports each of `specifiers` from a module placed next to `<dir>/index.mjs` in a fresh node process with
 * `env`, as the bundle's lazy `import()` would; returns the specifiers that fail, with Node's message.
 */
export function unresolvableImports(
  dir: string,
  specifiers: readonly string[],
  env: Readonly<Record<string, string>>,
): { specifier: string; message: string }[] {
  const probe = join(dir, '.lazy-import-probe.mjs');
  writeFileSync(
    probe,
    `const failed = [];
for (const s of ${JSON.stringify(specifiers)}) {
  try { await import(s); } catch (e) { failed.push({ specifier: s, message: String(e && e.message).slice(0, 300) }); }
}
process.stdout.write(JSON.stringify(failed));
process.exit(0);
`,
  );
  const child = spawnSync(process.execPath, [probe], {
    cwd: dir,
    env: { ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  try {
    return JSON.parse(child.stdout) as { specifier: string; message: string }[];
  } catch {
    return [{ specifier: '(probe)', message: `exited ${child.status}: ${child.stderr.slice(-1000)}` }];
  }
}
