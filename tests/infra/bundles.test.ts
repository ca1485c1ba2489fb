import { cpSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVITIES } from '../../infra/activities.ts';
import { esbuildOptions, REPO_ROOT, WfloFunction, ZOD_ALIAS } from '../../infra/constructs/wflo-function.ts';
import { type CfnTemplate, logicalId, STACK_KEYS, type StackKey, synthWflo } from './helpers.ts';
import {
  dynamicImportSpecifiers,
  INIT_EVENTS,
  installRuntimePackages,
  isInsideRepo,
  isModuleError,
  lambdaEnvironment,
  missingModule,
  reachedNetwork,
  runBundle,
  runtimeProvidedPackages,
  type SandboxOutcome,
  unresolvableImports,
  writeRunner,
} from './lambda-sandbox.ts';

/*
 * Proof that every Lambda bundle the app synthesizes loads and starts on the Lambda Node.js runtime.
 * Each asset is copied to a directory outside the repository whose node_modules holds only what the runtime
 * provides: the AWS SDK v3 and its dependencies. The SDK is external on purpose (see EXTERNAL_MODULES in
 * infra/constructs/wflo-function.ts), so a bundle may import it and nothing else from node_modules.
 * A fresh node process per bundle imports it with the function's environment from the template and runs
 * its first invocation: config, clients and adapters are built, then the first AWS call goes to a loopback
 * port that refuses. That must fail as a network error, never as a module that cannot be found.
 */

/**
 * Bundles larger than this (minified) fail: the cold-start budget, for every bundle (the Kafka ones too:
 * their client is cut to what wflo uses by the shims in infra/constructs/bundling/).
 */
const MAX_BUNDLE_BYTES = 500 * 1024;

/** The entry points MSK adds (synthesized here with kafka=true). */
const KAFKA_ENTRIES = [
  'functions/events/outbox-relay.ts',
  'functions/events/run-notifier.ts',
  'functions/custom-resources/kafka-topics.ts',
];

interface Bundle {
  readonly entry: string;
  readonly functionName: string;
  readonly dir: string;
  readonly env: Record<string, string>;
}

let sandbox: string;
let runner: string;
let bundles: Bundle[];
let cleanup: () => void;
const outcomes = new Map<string, Promise<SandboxOutcome>>();

/** Fake but well-formed values for a CloudFormation reference, by resource type (what the config validates). */
function fakeRef(type: string, id: string): string {
  const lower = id.toLowerCase().replace(/[^a-z0-9]/g, '');
  switch (type) {
    case 'AWS::S3::Bucket':
      return `wflo-${lower}`.slice(0, 63);
    case 'AWS::SecretsManager::Secret':
    case 'AWS::SecretsManager::SecretTargetAttachment':
      return `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${lower}-AbCdEf`;
    case 'AWS::StepFunctions::StateMachine':
      return `arn:aws:states:eu-west-1:123456789012:stateMachine:${lower}`;
    case 'AWS::SQS::Queue':
      return `https://sqs.eu-west-1.amazonaws.com/123456789012/${lower}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:eu-west-1:123456789012:${lower}`;
    default:
      return lower;
  }
}

function fakeAtt(type: string, id: string, attribute: string): string {
  const lower = id.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (attribute.endsWith('Address')) return '127.0.0.1';
  // MSK's bootstrap brokers (the lookup custom resource): a loopback port that refuses.
  if (attribute === 'BootstrapBrokerStringSaslIam') return '127.0.0.1:9';
  if (attribute.endsWith('Port')) return '6379';
  if (type === 'AWS::RDS::DBCluster' && attribute === 'DBClusterArn') {
    return `arn:aws:rds:eu-west-1:123456789012:cluster:${lower}`;
  }
  if (attribute === 'Arn' || attribute.endsWith('Arn')) {
    const service = type.split('::')[1]?.toLowerCase() ?? 'unknown';
    return `arn:aws:${service}:eu-west-1:123456789012:${lower}`;
  }
  return lower;
}

const PSEUDO: Record<string, string> = {
  'AWS::Region': 'eu-west-1',
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::NoValue': '',
};

/** Resolves a template value to the string Lambda would see, with fake physical ids (cross-stack too). */
function resolveValue(
  value: unknown,
  stack: StackKey,
  json: Record<StackKey, CfnTemplate>,
  names: Record<string, StackKey>,
): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  const v = value as Record<string, unknown>;
  const again = (x: unknown, s: StackKey = stack) => resolveValue(x, s, json, names);
  if ('Ref' in v) {
    const ref = String(v.Ref);
    if (ref in PSEUDO) return PSEUDO[ref]!;
    if (ref === 'AWS::StackName') return `Wflo-${stack}`;
    const resource = json[stack].Resources[ref];
    if (!resource) throw new Error(`Ref to ${ref}, which is not a resource of the ${stack} stack`);
    return fakeRef(resource.Type, ref);
  }
  if ('Fn::GetAtt' in v) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    return fakeAtt(json[stack].Resources[id]?.Type ?? '', id, attribute);
  }
  if ('Fn::Join' in v) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => again(p)).join(sep);
  }
  if ('Fn::Select' in v) {
    const [index, list] = v['Fn::Select'] as [number, unknown];
    const items = Array.isArray(list) ? list.map((x) => again(x)) : again(list).split(',');
    return items[Number(index)] ?? '';
  }
  if ('Fn::Split' in v) {
    const [sep, source] = v['Fn::Split'] as [string, unknown];
    return again(source).split(sep).join(',');
  }
  if ('Fn::GetStackOutput' in v) {
    const { StackName, OutputName } = v['Fn::GetStackOutput'] as { StackName: string; OutputName: string };
    const other = names[StackName];
    const output = other
      ? (json[other].Outputs as Record<string, { Value: unknown }>)?.[OutputName]
      : undefined;
    if (!other || !output) throw new Error(`no output ${OutputName} in stack ${StackName}`);
    return again(output.Value, other);
  }
  if ('Fn::ImportValue' in v) {
    const name = again(v['Fn::ImportValue']);
    for (const key of STACK_KEYS) {
      for (const output of Object.values(
        (json[key].Outputs ?? {}) as Record<string, { Value: unknown; Export?: { Name: unknown } }>,
      )) {
        if (output.Export && again(output.Export.Name, key) === name) return again(output.Value, key);
      }
    }
    throw new Error(`no export ${name}`);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value).slice(0, 200)}`);
}

function wfloFunctions(root: IConstruct): WfloFunction[] {
  const out: WfloFunction[] = [];
  const walk = (c: IConstruct): void => {
    if (c instanceof WfloFunction) out.push(c);
    for (const child of c.node.children) walk(child);
  };
  walk(root);
  return out;
}

/** Why an outcome is not "initialised, then the first AWS call was refused", or undefined when it is. */
function problemWith(bundle: Bundle, outcome: SandboxOutcome): string | undefined {
  const where = `${bundle.entry} (${bundle.functionName}, ${bundle.dir})`;
  if (isModuleError(outcome.error)) {
    return `${where} reaches for module '${missingModule(outcome.error) ?? '?'}', which the Lambda runtime does not provide: ${outcome.error?.message}`;
  }
  if (outcome.stage === 'import' || outcome.stage === 'handler') {
    return `${where} failed at ${outcome.stage}: ${outcome.error?.name}: ${outcome.error?.message}\n${outcome.output.slice(-2000)}`;
  }
  if (outcome.stage === 'done' || reachedNetwork(outcome)) return undefined;
  return `${where} failed before its first AWS call: ${outcome.error?.name} (${outcome.error?.codes?.join(',')}): ${outcome.error?.message}\n${outcome.error?.stack}\n${outcome.output.slice(-2000)}`;
}

beforeAll(() => {
  // GIVEN the app synthesized with bundling on, as `cdk synth` builds it, with MSK on so that the relay, topics
  // and consumer bundles are checked too
  const synth = synthWflo({ 'aws:cdk:bundling-stacks': ['**'], kafka: 'true' });
  sandbox = realpathSync(mkdtempSync(join(tmpdir(), 'wflo-lambda-sandbox-')));
  cleanup = () => {
    synth.cleanup();
    rmSync(sandbox, { recursive: true, force: true });
  };
  installRuntimePackages(sandbox);
  runner = writeRunner(sandbox);
  const names = Object.fromEntries(STACK_KEYS.map((k) => [synth.stacks[k].stackName, k])) as Record<
    string,
    StackKey
  >;
  bundles = wfloFunctions(synth.app).map((f) => {
    const stack = names[Stack.of(f).stackName]!;
    const id = logicalId(f.function);
    const props = synth.json[stack].Resources[id]?.Properties as {
      Environment?: { Variables?: Record<string, unknown> };
    };
    const env = Object.fromEntries(
      Object.entries(props.Environment?.Variables ?? {}).map(([k, v]) => [
        k,
        resolveValue(v, stack, synth.json, names),
      ]),
    );
    const asset = (f.function.node.findChild('Code') as unknown as { assetPath: string }).assetPath;
    // Each bundle in its own task root (Lambda's /var/task) beside the shared runtime node_modules.
    const dir = join(sandbox, 'tasks', id);
    cpSync(join(synth.app.outdir, asset), dir, { recursive: true });
    return { entry: f.entry, functionName: id, dir, env };
  });
  for (const b of bundles) {
    outcomes.set(
      b.entry,
      runBundle({
        runner,
        bundle: join(b.dir, 'index.mjs'),
        env: lambdaEnvironment(b.functionName, b.dir, b.env),
        event: INIT_EVENTS[b.entry] ?? {},
      }),
    );
  }
}, 300_000);
afterAll(() => cleanup?.());

describe('Lambda bundles (synthesized assets, outside the repository)', () => {
  it('checks every WfloFunction of the app, each bundle in a directory outside the repository', () => {
    // THEN every activity's entry and the other four entry points are all there, and the sandbox cannot fall back on the repo's node_modules
    expect(bundles.map((b) => b.entry).sort()).toEqual(
      expect.arrayContaining([
        ...ACTIVITIES.map((a) => a.entry),
        'functions/api/handler.ts',
        'functions/events/execution-status.ts',
        'functions/events/reconciler.ts',
        'functions/events/approval-sweeper.ts',
        'functions/custom-resources/migrations.ts',
        ...KAFKA_ENTRIES,
      ]),
    );
    expect(isInsideRepo(sandbox)).toBe(false);
    for (const b of bundles) expect(isInsideRepo(b.dir)).toBe(false);
  });

  it('has an init event for every entry point (a new Lambda must say how its first invocation starts)', () => {
    const missing = bundles.filter((b) => !(b.entry in INIT_EVENTS)).map((b) => b.entry);
    expect(
      missing,
      `add an event for ${missing.join(', ')} to INIT_EVENTS in tests/infra/lambda-sandbox.ts`,
    ).toEqual([]);
  });

  it('gives the bundles only what the Lambda runtime provides: the AWS SDK v3 and its dependencies', () => {
    const installed = readdirSync(join(sandbox, 'node_modules')).flatMap((scope) =>
      scope.startsWith('@')
        ? readdirSync(join(sandbox, 'node_modules', scope)).map((n) => `${scope}/${n}`)
        : [scope],
    );
    expect(installed.sort()).toEqual(runtimeProvidedPackages());
    for (const local of ['@electric-sql/pglite', 'pg', 'drizzle-orm', 'zod', 'iovalkey', '@middy/core']) {
      expect(installed).not.toContain(local);
    }
  });

  it('bundles no local-only module (infra/local/) and nothing of sandbox-image/ but its contract', async () => {
    // WHEN the entries are bundled again with the same esbuild options (in one build, unminified: the module
    // list does not depend on it), keeping the metafile: each output's modules
    const { metafile } = await build({
      ...esbuildOptions(),
      minify: false,
      entryPoints: bundles.map((b) => join(REPO_ROOT, b.entry)),
      absWorkingDir: REPO_ROOT,
      write: false,
      outdir: 'out',
      metafile: true,
      logLevel: 'silent',
    });
    // Every module each entry reaches through the import graph, tree-shaken or not (what esbuild had to read).
    const inputs = new Map<string, string[]>();
    for (const b of bundles) {
      const seen = new Set<string>([b.entry]);
      for (const path of seen) {
        for (const i of metafile.inputs[path]?.imports ?? []) if (!i.external) seen.add(i.path);
      }
      inputs.set(b.entry, [...seen]);
    }
    expect(Object.keys(metafile.inputs)).toEqual(expect.arrayContaining(bundles.map((b) => b.entry)));

    // THEN the module lists are repo-relative and include the sandbox contract where it is used
    expect(inputs.get('functions/activities/sandbox-prepare.ts')).toContain('sandbox-image/src/contract.ts');
    // and no bundle takes in the local engine, the CLI or the sandbox's runtime code
    const leaks = [...inputs].flatMap(([entry, modules]) =>
      modules
        .filter(
          (m) =>
            m.startsWith('infra/local/') ||
            (m.startsWith('sandbox-image/') && m !== 'sandbox-image/src/contract.ts'),
        )
        .map((m) => `${entry} → ${m}`),
    );
    expect(leaks).toEqual([]);
  }, 300_000);

  it('keeps every bundle under 500 KB minified, with no source map unless asked for', () => {
    for (const b of bundles) {
      const size = statSync(join(b.dir, 'index.mjs')).size;
      expect(size, `${b.entry}: ${size} bytes`).toBeLessThan(MAX_BUNDLE_BYTES);
      expect(readdirSync(b.dir), b.entry).not.toContain('index.mjs.map');
      expect(b.env.NODE_OPTIONS ?? '', b.entry).not.toContain('--enable-source-maps');
    }
  });

  it.each([
    ...ACTIVITIES.map((a) => a.entry),
    'functions/api/handler.ts',
    'functions/events/execution-status.ts',
    'functions/events/reconciler.ts',
    'functions/events/approval-sweeper.ts',
    'functions/custom-resources/migrations.ts',
    ...KAFKA_ENTRIES,
  ])('%s imports, exports handler, and initialises up to its first AWS call', async (entry) => {
    // WHEN the bundle is imported and invoked once in a fresh node process
    const bundle = bundles.find((b) => b.entry === entry)!;
    const outcome = await outcomes.get(entry)!;

    // THEN it got past every import and its init, and failed only where it reached for the network
    expect(problemWith(bundle, outcome)).toBeUndefined();
    expect(
      reachedNetwork(outcome),
      `${entry} never reached its first AWS call:\n${outcome.output.slice(-2000)}`,
    ).toBe(true);
  });

  it("answers the API's first GET without evaluating undici (functions/api/lite-web.ts)", async () => {
    // GIVEN the API bundle's first invocation (a GET answered with JSON; a 500 here, as the store is refused)
    const outcome = await outcomes.get('functions/api/handler.ts')!;

    // THEN Node's fetch classes were never evaluated: the handler's stand-ins answered (~18 ms of CPU saved)
    expect(outcome.stage).toBe('done');
    expect(outcome.undiciLoaded).toBe(false);
  });

  it('finds every module a bundle imports lazily (dynamic import) in its asset or the Lambda runtime', () => {
    // GIVEN the dynamic imports each bundle keeps: code its first invocation may not reach (the API's approvals
    // adapter imports lib-dynamodb on its first call), so the init check above cannot see a missing one
    const lazy = bundles.map((b) => ({
      b,
      specifiers: dynamicImportSpecifiers(readFileSync(join(b.dir, 'index.mjs'), 'utf8')),
    }));
    expect(lazy.find((l) => l.b.entry === 'functions/api/handler.ts')?.specifiers).toContain(
      '@aws-sdk/lib-dynamodb',
    );

    // WHEN each is imported from the bundle's own directory, with the function's environment
    const missing = lazy.flatMap(({ b, specifiers }) =>
      unresolvableImports(b.dir, specifiers, lambdaEnvironment(b.functionName, b.dir, b.env)).map(
        (f) =>
          `${b.entry} imports '${f.specifier}' lazily, which neither its asset nor the runtime has: ${f.message}`,
      ),
    );

    // THEN every one loads
    expect(missing).toEqual([]);
  });

  it("ships each workflow's input schema with the API bundle (it validates starts against them)", () => {
    // GIVEN the workflows' declared inputs
    const declared = readdirSync(join(REPO_ROOT, 'statemachines')).filter((f) => f.endsWith('.input.json'));
    // THEN the API's task root holds the same files, byte for byte
    const api = bundles.find((b) => b.entry === 'functions/api/handler.ts')!;
    expect(declared.length).toBeGreaterThan(0);
    expect(readdirSync(join(api.dir, 'workflows')).sort()).toEqual(declared.sort());
    for (const f of declared) {
      expect(readFileSync(join(api.dir, 'workflows', f), 'utf8')).toBe(
        readFileSync(join(REPO_ROOT, 'statemachines', f), 'utf8'),
      );
    }
  });

  it('loads every other WfloFunction bundle too (e.g. one added since this list was written)', async () => {
    const problems: string[] = [];
    for (const b of bundles) {
      const problem = problemWith(b, await outcomes.get(b.entry)!);
      if (problem) problems.push(problem);
    }
    expect(problems).toEqual([]);
  });
});

describe('Bundling alias: zod without locales (infra/constructs/bundling/zod.js)', () => {
  it('exports everything zod exports except locales, from the same modules', async () => {
    // GIVEN the module Lambda bundles get for `zod`, and zod itself
    const shim = (await import(pathToFileURL(ZOD_ALIAS).href)) as Record<string, unknown> & {
      z: Record<string, unknown> & { core: Record<string, unknown> };
    };
    const zod = (await import('zod')) as unknown as Record<string, unknown> & {
      z: Record<string, unknown> & { core: Record<string, unknown> };
    };
    const names = (o: object, drop: string) =>
      Object.keys(o)
        .filter((k) => k !== drop)
        .sort();

    // THEN nothing but the translations is missing (a zod upgrade that adds an export fails here)
    expect(Object.keys(shim).sort()).toEqual(names(zod, 'locales'));
    expect(Object.keys(shim.z).sort()).toEqual(names(zod.z, 'locales'));
    expect(Object.keys(shim.z.core).sort()).toEqual(names(zod.z.core, 'locales'));
    // and the classes are zod's own (one module instance, so instanceof and prototypes agree)
    expect(shim.ZodType).toBe(zod.ZodType);
    expect(shim.z.core.$ZodType).toBe(zod.z.core.$ZodType);
  });

  it('still reports validation errors in English', async () => {
    const { z } = (await import(pathToFileURL(ZOD_ALIAS).href)) as typeof import('zod');
    const result = z.object({ n: z.number() }).safeParse({ n: 'x' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/expected number/i);
  });
});
