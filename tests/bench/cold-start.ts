/**
 * cold-start: what each Lambda bundle costs before its first AWS call. For every entry point, the CPU time of
 * import + first invocation (median of 9 fresh `node` processes, `process.cpuUsage()` around both, Node's own
 * start excluded) next to a bare handler that imports only the SDK clients that function calls and sends one
 * request, and the bundle's size. Both are built with the esbuild options of WfloFunction (BUNDLE_OPTIONS)
 * and run outside the repository with only the AWS SDK in node_modules (tests/infra/lambda-sandbox.ts);
 * every AWS call goes to a refusing loopback port, so the figures stop at the first network call.
 * Also measures what `--enable-source-maps` with a shipped map adds (why maps are off by default).
 * Targets: init ≤ 1.5× baseline, every bundle < 500 KB.
 * `npm run bench -- cold-start`.
 */
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ACTIVITIES } from '../../infra/activities.ts';
import { MIGRATIONS_PATH } from '../../infra/constructs/database-migrations.ts';
import { esbuildOptions, REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import {
  INIT_EVENTS,
  installRuntimePackages,
  lambdaEnvironment,
  reachedNetwork,
  runBundle,
  type SandboxOutcome,
  writeRunner,
} from '../infra/lambda-sandbox.ts';
import { type BenchResult, percentile, report, target } from './lib.ts';

const RUNS = 9;
const MAX_RATIO = 1.5;
const MAX_BYTES = 500 * 1024;

/** An SDK client a function calls, and the one request the baseline sends with it. */
interface SdkCall {
  readonly pkg: string;
  readonly client: string;
  /** A command and its input (the baseline's first call), for the first client of the list. */
  readonly command?: string;
  readonly input?: Record<string, unknown>;
}

const DATA_API: SdkCall = {
  pkg: '@aws-sdk/client-rds-data',
  client: 'RDSDataClient',
  command: 'ExecuteStatementCommand',
  input: {
    resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo',
    secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-AbCdEf',
    database: 'wflo',
    sql: 'select 1',
  },
};
const S3: SdkCall = { pkg: '@aws-sdk/client-s3', client: 'S3Client' };
const PRESIGNER: SdkCall = { pkg: '@aws-sdk/s3-request-presigner', client: 'S3RequestPresigner' };
const SFN: SdkCall = { pkg: '@aws-sdk/client-sfn', client: 'SFNClient' };
const BEDROCK: SdkCall = { pkg: '@aws-sdk/client-bedrock-runtime', client: 'BedrockRuntimeClient' };
const SECRETS: SdkCall = { pkg: '@aws-sdk/client-secrets-manager', client: 'SecretsManagerClient' };
const SNS: SdkCall = { pkg: '@aws-sdk/client-sns', client: 'SNSClient' };
/** The approvals table (APPROVALS_TABLE on AWS): requested by approval-request, read and decided by the API. */
const DYNAMODB: SdkCall = { pkg: '@aws-sdk/client-dynamodb', client: 'DynamoDBClient' };
/** DynamoDB first, with a Query: the first call of the API's approval routes. */
const DYNAMODB_QUERY: SdkCall = {
  ...DYNAMODB,
  command: 'QueryCommand',
  input: {
    TableName: 'wflo-approvals',
    KeyConditionExpression: '#status = :status',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':status': { S: 'pending' } },
  },
};
/** SNS as the first (and only) client: the run notifier's first call is a Publish. */
const SNS_PUBLISH: SdkCall = {
  ...SNS,
  command: 'PublishCommand',
  input: { TopicArn: 'arn:aws:sns:eu-west-1:123456789012:wflo-run-notifications', Message: '{}' },
};

/** The SDK clients each activity calls (its first call is the store's, through the Data API). */
const ACTIVITY_SDK: Readonly<Record<string, readonly SdkCall[]>> = {
  'execution-finish': [DATA_API],
  'llm-invoke': [DATA_API, BEDROCK, SECRETS],
  'sandbox-prepare': [DATA_API, S3, PRESIGNER],
  'sandbox-collect': [DATA_API, S3],
  'approval-request': [DATA_API, SNS, DYNAMODB],
  // Locks on ElastiCache go through iovalkey, not an SDK client: the baseline is the store's client.
  'lock-acquire': [DATA_API],
  'lock-release': [DATA_API],
  'document-write': [DATA_API],
};

/** Each Lambda entry point (the activities from their registry) and the SDK clients it calls. */
const FUNCTIONS: readonly {
  name: string;
  entry: string;
  sdk: readonly SdkCall[];
  migrations?: boolean;
  /** Environment on top of FUNCTION_ENV. */
  env?: Record<string, string>;
  /** The first invocation's event. @default INIT_EVENTS[entry] */
  event?: unknown;
}[] = [
  ...ACTIVITIES.map((a) => {
    const sdk = ACTIVITY_SDK[a.id];
    if (!sdk)
      throw new Error(`cold-start bench: say which SDK clients activity '${a.id}' calls (ACTIVITY_SDK)`);
    return { name: a.id, entry: a.entry, sdk };
  }),
  { name: 'api', entry: 'functions/api/handler.ts', sdk: [DATA_API, SFN, DYNAMODB] },
  // The API again, its first request on an approval route (GET /approvals, a DynamoDB Query): it also pays
  // for what the approvals adapter imports on first use (lib-dynamodb), which `api` above never loads.
  {
    name: 'api-approvals',
    entry: 'functions/api/handler.ts',
    sdk: [DYNAMODB_QUERY, DATA_API, SFN],
    event: {
      ...(INIT_EVENTS['functions/api/handler.ts'] as Record<string, unknown>),
      path: '/approvals',
      pathParameters: { proxy: 'approvals' },
    },
  },
  { name: 'approval-sweeper', entry: 'functions/events/approval-sweeper.ts', sdk: [DATA_API, DYNAMODB] },
  { name: 'status-projector', entry: 'functions/events/execution-status.ts', sdk: [DATA_API, SFN] },
  { name: 'reconciler', entry: 'functions/events/reconciler.ts', sdk: [DATA_API, SFN] },
  // With MSK: the relay reads the outbox first (Data API); its Kafka client connects only once there are rows.
  {
    name: 'outbox-relay',
    entry: 'functions/events/outbox-relay.ts',
    sdk: [DATA_API],
    env: { KAFKA_BROKERS: '127.0.0.1:9', KAFKA_AUTH: 'iam' },
  },
  {
    name: 'run-notifier',
    entry: 'functions/events/run-notifier.ts',
    sdk: [SNS_PUBLISH],
    env: { RUN_NOTIFICATIONS_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:wflo-run-notifications' },
  },
  {
    name: 'migrations',
    entry: 'functions/custom-resources/migrations.ts',
    sdk: [DATA_API],
    migrations: true,
  },
];

/** The environment the stacks give the functions (fake but well-formed resource names). */
const FUNCTION_ENV: Record<string, string> = {
  POWERTOOLS_SERVICE_NAME: 'wflo',
  POWERTOOLS_METRICS_NAMESPACE: 'wflo',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  DB_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-AbCdEf',
  DB_NAME: 'wflo',
  ARTIFACTS_BUCKET: 'wflo-artifacts',
  WORKFLOW_STATE_MACHINES: JSON.stringify({
    hello: 'arn:aws:states:eu-west-1:123456789012:stateMachine:hello',
  }),
  LLM_PROVIDER: 'scripted',
  APPROVALS_TABLE: 'wflo-approvals',
};

/** A handler that only imports and constructs the SDK clients, then sends one request with the first. */
function baselineSource(sdk: readonly SdkCall[]): string {
  const lines = sdk.map((c, i) => `import { ${c.client} as C${i} } from '${c.pkg}';`);
  const first = sdk[0]!;
  lines.push(`import { ${first.command} as Command } from '${first.pkg}';`);
  lines.push(
    `const clients = [${sdk.map((c, i) => (c.client === 'S3RequestPresigner' ? `C${i}` : `new C${i}({})`)).join(', ')}];`,
  );
  lines.push(
    `export const handler = async () => clients[0].send(new Command(${JSON.stringify(first.input)}));`,
  );
  return lines.join('\n');
}

async function bundle(
  entry: string | { contents: string },
  outdir: string,
  sourcemap: boolean,
): Promise<void> {
  mkdirSync(outdir, { recursive: true });
  await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [join(REPO_ROOT, entry)] }
      : { stdin: { contents: entry.contents, resolveDir: REPO_ROOT, loader: 'js' } }),
    ...esbuildOptions(),
    outfile: join(outdir, 'index.mjs'),
    ...(sourcemap ? { sourcemap: 'external' as const, sourcesContent: false } : {}),
    logLevel: 'error',
  });
}

function checked(name: string, outcome: SandboxOutcome): number {
  if (!reachedNetwork(outcome) || outcome.cpuMicros === undefined) {
    throw new Error(
      `${name}: expected a refused AWS call, got ${outcome.stage}: ${outcome.error?.name}: ${outcome.error?.message}\n${outcome.output.slice(-1500)}`,
    );
  }
  return outcome.cpuMicros / 1000;
}

export async function run(): Promise<BenchResult> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'wflo-cold-start-')));
  try {
    installRuntimePackages(root);
    const runner = writeRunner(root);
    const figures: Record<string, number> = {};
    const targets: BenchResult['targets'] = {};
    const rows: string[][] = [];
    // `COLD_START_FUNCTIONS=llm-invoke,api` measures only those; `COLD_START_CPU_PROFILE=<dir>` also writes
    // one V8 CPU profile per bundle and baseline there (open in Chrome DevTools) to see where init goes.
    const only = process.env.COLD_START_FUNCTIONS?.split(',').filter(Boolean);
    const profileDir = process.env.COLD_START_CPU_PROFILE;
    for (const fn of FUNCTIONS.filter((f) => !only || only.includes(f.name))) {
      const dir = join(root, fn.name);
      const mapped = join(root, `${fn.name}-sourcemaps`);
      const base = join(root, `${fn.name}-baseline`);
      await bundle(fn.entry, dir, false);
      await bundle(fn.entry, mapped, true);
      await bundle({ contents: baselineSource(fn.sdk) }, base, false);
      if (fn.migrations) {
        for (const d of [dir, mapped])
          cpSync(join(REPO_ROOT, MIGRATIONS_PATH), join(d, 'migrations'), { recursive: true });
      }
      const env = lambdaEnvironment(fn.name, dir, { ...FUNCTION_ENV, ...fn.env });
      const event = fn.event ?? INIT_EVENTS[fn.entry];
      const wflo: number[] = [];
      const bare: number[] = [];
      const maps: number[] = [];
      // Interleaved, so all three see the same machine state.
      for (let i = 0; i < RUNS; i++) {
        wflo.push(checked(fn.name, await runBundle({ runner, bundle: join(dir, 'index.mjs'), env, event })));
        if (profileDir && i === 0) {
          for (const [label, b] of [
            [fn.name, dir],
            [`${fn.name}-baseline`, base],
          ] as const) {
            await runBundle({
              runner,
              bundle: join(b, 'index.mjs'),
              env,
              event,
              nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}.cpuprofile`],
            });
          }
        }
        bare.push(
          checked(
            `${fn.name} baseline`,
            await runBundle({ runner, bundle: join(base, 'index.mjs'), env, event }),
          ),
        );
        maps.push(
          checked(
            `${fn.name} with source maps`,
            await runBundle({
              runner,
              bundle: join(mapped, 'index.mjs'),
              env,
              event,
              nodeArgs: ['--enable-source-maps'],
            }),
          ),
        );
      }
      const size = statSync(join(dir, 'index.mjs')).size;
      const mapSize = statSync(join(mapped, 'index.mjs.map')).size;
      const [w, b, m] = [percentile(wflo, 50), percentile(bare, 50), percentile(maps, 50)];
      const round = (n: number) => Math.round(n * 10) / 10;
      figures[`${fn.name}_init_cpu_ms`] = round(w);
      figures[`${fn.name}_baseline_init_cpu_ms`] = round(b);
      figures[`${fn.name}_with_source_maps_init_cpu_ms`] = round(m);
      figures[`${fn.name}_bundle_bytes`] = size;
      figures[`${fn.name}_source_map_bytes`] = mapSize;
      targets[`${fn.name}_init_vs_baseline`] = target(w / b, MAX_RATIO);
      targets[`${fn.name}_bundle_bytes`] = target(size, MAX_BYTES);
      rows.push([
        fn.name,
        `${round(w)}`,
        `${round(b)}`,
        (w / b).toFixed(2),
        `${round(m)}`,
        `${Math.round(size / 1024)}`,
      ]);
    }
    console.log('\nfunction            init CPU ms  baseline ms  ratio  +source maps ms  bundle KB');
    for (const r of rows) {
      console.log(
        `${r[0]!.padEnd(20)}${r[1]!.padStart(11)}${r[2]!.padStart(13)}${r[3]!.padStart(7)}${r[4]!.padStart(17)}${r[5]!.padStart(11)}`,
      );
    }
    return {
      name: 'cold-start',
      figures: { runs: RUNS, ...figures },
      targets,
      notes: [
        `median of ${RUNS} fresh node ${process.version} processes each (Lambda runs Node 24); CPU = user + system of import + first invocation up to the refused first AWS call`,
        'baseline: imports and constructs only the SDK clients the function calls and sends one Data API request',
        'AWS SDK external (from the runtime), as deployed; see EXTERNAL_MODULES in infra/constructs/wflo-function.ts',
      ],
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// `npx tsx tests/bench/cold-start.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) report(await run());
