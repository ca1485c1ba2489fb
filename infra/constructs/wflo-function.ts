import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { BuildOptions } from 'esbuild';
import type { EnvBindings, EnvKey } from '../../functions/shared/contracts/env.ts';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../../functions/shared/contracts/metrics.ts';

/** Repository root (this file is infra/constructs/wflo-function.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The newest Node.js runtime this aws-cdk-lib offers (cdk-nag AwsSolutions-L1 checks for it). */
export const NODE_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * ESM bundles still meet CommonJS dependencies that call `require`; give them one.
 * (esbuild's own shim throws "Dynamic require of X is not supported" otherwise.)
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __wfloCreateRequire } from 'node:module'; const require = __wfloCreateRequire(import.meta.url);";

/**
 * Modules left out of every bundle: only the AWS SDK v3, which the Lambda Node.js runtime provides.
 *
 * Why not bundle the SDK: the clients a handler calls (S3 with its presigner, Bedrock, Secrets Manager, the
 * Data API, Step Functions) would add 150-400 KB each to bundles held under 500 KB, and AWS patches the
 * runtime's copy. The price is that the runtime's SDK version, not package-lock's, runs on Lambda; wflo uses
 * only stable client APIs (send, middlewareStack). Nothing else may be external: local-only code (PGlite,
 * node-postgres) is kept out of the Lambda entry points' import graph by their wiring
 * (functions/shared/wiring/), not by a list here, and tests/infra/bundles.test.ts loads every synthesized
 * bundle where only the SDK exists, so a bundle that reaches for anything else fails, naming the module.
 */
export const EXTERNAL_MODULES = ['@aws-sdk/*'];

/**
 * `zod` in a Lambda bundle is zod's own API minus its 41 error-message translations (see
 * infra/constructs/bundling/zod-classic.js): 264 KB that the API bundle would otherwise carry because
 * @hono/zod-openapi uses the `z` namespace as a value, which keeps every member of it.
 */
export const ZOD_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/zod.js');

/**
 * `@platformatic/kafka` in a Lambda bundle is only the producer and admin clients wflo uses (see
 * infra/constructs/bundling/platformatic-kafka.js): the package's single entry point drags in its schema
 * registry and every client.
 */
export const KAFKA_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/platformatic-kafka.js');

/**
 * `@platformatic/wasm-utils` as CRC32C in JavaScript, without the WebAssembly and its LZ4/Snappy codecs, which
 * wflo's clients never use (see infra/constructs/bundling/wasm-utils.js).
 */
export const WASM_UTILS_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/wasm-utils.js');

/**
 * `ajv/dist/2020.js` (imported by @platformatic/kafka only) as an Ajv that compiles nothing: the client
 * validates options only with `strict: true`, which wflo never sets (see infra/constructs/bundling/ajv-2020.js).
 */
export const KAFKA_AJV_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/ajv-2020.js');

/** `mnemonist` as the one class of it @platformatic/kafka uses (see infra/constructs/bundling/mnemonist.js). */
export const MNEMONIST_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/mnemonist.js');

/** `@aws-crypto/sha256-js` (the MSK IAM signer's) over node:crypto (see infra/constructs/bundling/sha256.js). */
export const SHA256_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/sha256.js');

/** Powertools Kafka's lazily imported Avro and Protobuf decoders get a stub that refuses (wflo events are JSON). */
export const UNSUPPORTED_SCHEMA_ALIAS = join(REPO_ROOT, 'infra/constructs/bundling/unsupported-schema.js');

/**
 * `#shared/wiring/lambda-db` in a Lambda bundle: the entry that imports the Data API driver statically (see
 * functions/shared/wiring/lambda-db.bundled.ts), where Node and the local target get the one that imports it
 * on first use. ~20 M instructions less per cold start of every function over the store.
 */
export const LAMBDA_DB_ALIAS = join(REPO_ROOT, 'functions/shared/wiring/lambda-db.bundled.ts');

/**
 * The esbuild options every Lambda bundle is built with (NodejsFunction passes them to esbuild), exported
 * so the cold-start bench bundles its baselines the same way.
 */
export const BUNDLE_OPTIONS = {
  format: 'esm',
  platform: 'node',
  target: 'node24',
  mainFields: ['module', 'main'],
  minify: true,
  banner: ESM_REQUIRE_BANNER,
  external: EXTERNAL_MODULES,
  // Embeds a WebAssembly module should a dependency import one (none does since wasm-utils.js is JavaScript).
  loader: { '.wasm': 'binary' },
  alias: {
    zod: ZOD_ALIAS,
    '@platformatic/kafka': KAFKA_ALIAS,
    '@platformatic/wasm-utils': WASM_UTILS_ALIAS,
    'ajv/dist/2020.js': KAFKA_AJV_ALIAS,
    mnemonist: MNEMONIST_ALIAS,
    '@aws-crypto/sha256-js': SHA256_ALIAS,
    'avro-js': UNSUPPORTED_SCHEMA_ALIAS,
    protobufjs: UNSUPPORTED_SCHEMA_ALIAS,
    '#shared/wiring/lambda-db': LAMBDA_DB_ALIAS,
  },
} as const;

/**
 * {@link BUNDLE_OPTIONS} as esbuild's own build options (what NodejsFunction hands esbuild), for the builds made
 * outside CDK that must match a deployed bundle: the cold-start bench and the bundle tests. Fresh copies each
 * call, as esbuild's option types are mutable.
 */
export function esbuildOptions(): BuildOptions {
  return {
    bundle: true,
    format: BUNDLE_OPTIONS.format,
    platform: BUNDLE_OPTIONS.platform,
    target: BUNDLE_OPTIONS.target,
    mainFields: [...BUNDLE_OPTIONS.mainFields],
    minify: BUNDLE_OPTIONS.minify,
    banner: { js: BUNDLE_OPTIONS.banner },
    external: [...BUNDLE_OPTIONS.external],
    alias: { ...BUNDLE_OPTIONS.alias },
    loader: { ...BUNDLE_OPTIONS.loader },
  };
}

/** Context key that ships source maps and turns on `--enable-source-maps` (`-c lambdaSourceMaps=true`). */
export const SOURCE_MAPS_CONTEXT_KEY = 'lambdaSourceMaps';

export interface WfloFunctionProps {
  /** Entry file, relative to the repository root (e.g. `functions/api/handler.ts`) or absolute. */
  readonly entry: string;
  /** Exported handler name. @default 'handler' */
  readonly handler?: string;
  readonly description: string;
  /** @default 256 */
  readonly memoryMb?: number;
  /** @default 30 */
  readonly timeoutSeconds?: number;
  /** Reserved concurrency (e.g. 1 for a function that must never run twice at once). @default - none */
  readonly reservedConcurrency?: number;
  /** Physical function name. @default - generated by CloudFormation */
  readonly functionName?: string;
  /** Days to keep the function's logs. */
  readonly logRetention: logs.RetentionDays;
  /** What happens to the log group when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Place the function in this VPC (it then needs the ENI permissions). @default - not in a VPC */
  readonly vpc?: ec2.IVpc;
  /** @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Required with `vpc`. */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** Extra environment (on top of the Powertools and source-map defaults): keys of the env contract only. */
  readonly environment?: EnvBindings;
  /** esbuild command hooks (e.g. copy migrations next to the bundle). */
  readonly commandHooks?: NodejsFunctionCommandHooks;
  /**
   * Ship `index.mjs.map` in the asset and start Node with `--enable-source-maps`, so stack traces name the
   * TypeScript sources. Off by default: Node then reads and parses the map on every cold start (see
   * `npm run bench -- cold-start`) for traces that only matter while debugging.
   * @default - the `lambdaSourceMaps` context value, else false
   */
  readonly sourceMaps?: boolean;
}

/** Same shape as aws-cdk-lib's ICommandHooks, restated so callers need not import the nodejs module. */
export interface NodejsFunctionCommandHooks {
  beforeBundling(inputDir: string, outputDir: string): string[];
  beforeInstall(inputDir: string, outputDir: string): string[];
  afterBundling(inputDir: string, outputDir: string): string[];
}

/**
 * A Lambda function with wflo's house defaults, so every function is built and observed the same way:
 * - NodejsFunction bundled locally by esbuild (no Docker): ESM, minified, AWS SDK from the runtime
 *   ({@link BUNDLE_OPTIONS}); source maps only when asked for ({@link WfloFunctionProps.sourceMaps});
 * - arm64, the newest Node.js runtime ({@link NODE_RUNTIME}), X-Ray active tracing;
 * - an explicit log group with retention, and an execution role that may write only to that log group
 *   (no AWSLambdaBasicExecutionRole, whose logs:CreateLogGroup applies to every log group);
 * - Powertools service `wflo`, metrics namespace `wflo`.
 *
 * Grants are added by the caller (`bindX()` helpers on the data stack), never by default.
 * @example new WfloFunction(this, 'Api', { entry: 'functions/api/handler.ts', description: 'API', logRetention })
 */
export class WfloFunction extends Construct {
  /** The entry file, relative to the repository root (the bundle tests and the cold-start bench key on it). */
  readonly entry: string;
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: WfloFunctionProps) {
    super(scope, id);
    const entry = resolve(REPO_ROOT, props.entry);
    this.entry = relative(REPO_ROOT, entry);
    const context = this.node.tryGetContext(SOURCE_MAPS_CONTEXT_KEY) as unknown;
    const sourceMaps = props.sourceMaps ?? (context === true || context === 'true');
    if (!existsSync(entry)) {
      throw new Error(`${this.node.path}: entry file ${props.entry} does not exist`);
    }
    if (props.vpc && !props.securityGroups?.length) {
      throw new Error(`${this.node.path}: a function in a VPC needs explicit securityGroups`);
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.functionName ?? this.node.path}`,
    });
    this.logGroup.grantWrite(this.role);
    if (props.vpc) {
      this.role.addManagedPolicy(
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
      );
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'Lambda needs the EC2 network-interface actions of this AWS-managed policy to attach the function to the VPC; ' +
          'the actions do not support resource-level scoping and AWS keeps the list in step with the Lambda service.',
      });
    }

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: props.handler ?? 'handler',
      description: props.description,
      functionName: props.functionName,
      runtime: NODE_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMb ?? 256,
      timeout: Duration.seconds(props.timeoutSeconds ?? 30),
      reservedConcurrentExecutions: props.reservedConcurrency,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      role: this.role,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      securityGroups: props.securityGroups,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_OPTIONS.target,
        mainFields: [...BUNDLE_OPTIONS.mainFields],
        minify: BUNDLE_OPTIONS.minify,
        sourceMap: sourceMaps,
        ...(sourceMaps ? { sourceMapMode: SourceMapMode.EXTERNAL, sourcesContent: false } : {}),
        banner: BUNDLE_OPTIONS.banner,
        externalModules: [...BUNDLE_OPTIONS.external],
        loader: { ...BUNDLE_OPTIONS.loader },
        esbuildArgs: Object.fromEntries(
          Object.entries(BUNDLE_OPTIONS.alias).map(([from, to]) => [`--alias:${from}`, to]),
        ),
        forceDockerBundling: false,
        commandHooks: props.commandHooks,
      },
      environment: {
        ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
    });

    // Tracing ACTIVE adds xray:PutTraceSegments/PutTelemetryRecords on "*" to the role's default policy.
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments and PutTelemetryRecords (active tracing) do not support resource-level permissions; ' +
        'a caller that adds another "*" statement acknowledges it where it adds it (see tests/infra for the allow-list).',
    });
  }

  /** Sets an environment variable the function's code reads (a key of the env contract). */
  addEnvironment(key: EnvKey, value: string): this {
    this.function.addEnvironment(key, value);
    return this;
  }
}
