import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { LOCAL_REGION } from '../workflows.ts';

/*
 * The real AWS SDK v3 clients the local engine calls when a service's endpoint is configured with the standard
 * variables (`AWS_ENDPOINT_URL_<SERVICE_ID>`, else `AWS_ENDPOINT_URL`; `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
 * turns both off), the same ones the SDK and the AWS CLI read. One client per service and endpoint, created
 * on first use. Only services whose `@aws-sdk/client-*` package is installed can be called.
 */

const require = createRequire(import.meta.url);

/** The environment the endpoint variables and the region are read from. */
export type Env = Readonly<Record<string, string | undefined>>;

/** An SDK v3 client, as far as this module uses it. */
export interface SdkClient {
  destroy(): void;
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  readonly config: { readonly serviceId: string };
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<{ output: unknown; response: unknown }>,
      ) => (args: unknown) => Promise<{ output: unknown; response: unknown }>,
      options: { step: 'deserialize'; name: string },
    ): void;
  };
}

/** A `@aws-sdk/client-*` module: its client class and command classes, by export name. */
export type SdkModule = Record<string, unknown>;
export type ClientClass = new (config: Record<string, unknown>) => SdkClient;
type CommandClass = new (input: unknown) => unknown;

/** The environment variable naming a service's endpoint: `AWS_ENDPOINT_URL_` + its service id, upper snake case. */
export function endpointVariable(serviceId: string): string {
  return `AWS_ENDPOINT_URL_${serviceId
    .trim()
    .toUpperCase()
    .replace(/[\s-]+/g, '_')}`;
}

/** The endpoint configured for a service, as the SDK resolves it from the environment; undefined when none. */
export function configuredEndpoint(serviceId: string, env: Env): string | undefined {
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase();
  if (ignore === 'true' || ignore === '1') return undefined;
  return env[endpointVariable(serviceId)] || env.AWS_ENDPOINT_URL || undefined;
}

/** The region a client is created in: AWS_REGION, AWS_DEFAULT_REGION, else the local engine's region. */
export function regionOf(env: Env): string {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || LOCAL_REGION;
}

let installed: Map<string, string> | undefined;

/**
 * The installed `@aws-sdk/client-*` packages by the name Step Functions gives the service in
 * `arn:aws:states:::aws-sdk:<service>:…` (the package name without `client-` and hyphens: `secretsmanager` →
 * `@aws-sdk/client-secrets-manager`, `sfn` → `@aws-sdk/client-sfn`).
 */
export function installedSdkPackages(): ReadonlyMap<string, string> {
  if (installed) return installed;
  const scope = dirname(dirname(require.resolve('@aws-sdk/client-dynamodb/package.json')));
  installed = new Map(
    readdirSync(scope)
      .filter((d) => d.startsWith('client-'))
      .map((d) => [d.slice('client-'.length).replaceAll('-', ''), `@aws-sdk/${d}`] as const),
  );
  return installed;
}

/** The package a service would need, for messages: `@aws-sdk/client-<service>`. */
export function packageHint(service: string): string {
  return installedSdkPackages().get(service) ?? `@aws-sdk/client-${service}`;
}

/** Loads an installed client package (synchronously: a workflow is checked while it loads). */
export function loadSdkModule(pkg: string): SdkModule {
  return require(pkg) as SdkModule;
}

/** The client class of a client package (`DynamoDBClient`…). */
export function clientClassOf(mod: SdkModule): ClientClass {
  const entry = Object.entries(mod).find(
    ([k, v]) =>
      // `__Client` is smithy's base class, re-exported by every package.
      /^[A-Z]\w*Client$/.test(k) &&
      typeof v === 'function' &&
      typeof (v as { prototype?: { send?: unknown } }).prototype?.send === 'function',
  );
  if (!entry) throw new Error('the package exports no SDK client');
  return entry[1] as ClientClass;
}

/** The command class for an action (`getItem` → `GetItemCommand`), or undefined when the service has none. */
export function commandClassOf(mod: SdkModule, action: string): CommandClass | undefined {
  const name = `${action.charAt(0).toUpperCase()}${action.slice(1)}Command`;
  const value = mod[name];
  return typeof value === 'function' ? (value as CommandClass) : undefined;
}

/** What the last HTTP response of a call looked like: Step Functions reports it in optimized results. */
export interface HttpInfo {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
}

const HTTP = Symbol('wflo.http');

/** The HTTP response captured for an SDK output (see {@link newClient}); undefined when not sent over HTTP. */
export function httpOf(output: unknown): HttpInfo | undefined {
  return output && typeof output === 'object'
    ? ((output as Record<symbol, unknown>)[HTTP] as HttpInfo | undefined)
    : undefined;
}

/**
 * A client of `ctor` for `endpoint` in `region`, created once per (class, endpoint, region). Its outputs carry
 * the HTTP status and headers (read with {@link httpOf}) for the `SdkHttpMetadata` of optimized results.
 */
export function newClient(
  ctor: ClientClass,
  config: {
    endpoint?: string;
    region: string;
    credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  },
  cache: Map<string, SdkClient>,
): SdkClient {
  const key = `${ctor.name}|${config.endpoint ?? ''}|${config.region}`;
  const existing = cache.get(key);
  if (existing) return existing;
  const client = new ctor({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as
        | { statusCode?: number; headers?: Record<string, string> }
        | undefined;
      if (result.output && typeof result.output === 'object' && response?.statusCode) {
        Object.defineProperty(result.output, HTTP, {
          value: { statusCode: response.statusCode, headers: { ...response.headers } } satisfies HttpInfo,
          enumerable: false,
        });
      }
      return result;
    },
    { step: 'deserialize', name: 'wfloCaptureHttp' },
  );
  cache.set(key, client);
  return client;
}

/**
 * An SDK output as Step Functions returns it: without `$metadata`, streamed bodies read to text, binary values
 * as base64 and dates as ISO strings (JSON, as every state's output is).
 */
export async function jsonOutput(output: unknown): Promise<unknown> {
  if (!output || typeof output !== 'object') return output ?? {};
  const { $metadata: _metadata, ...rest } = output as Record<string, unknown>;
  const body = rest.Body as { transformToString?: () => Promise<string> } | undefined;
  if (body && typeof body.transformToString === 'function') rest.Body = await body.transformToString();
  return JSON.parse(
    JSON.stringify(rest, (_key, value: unknown) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value,
    ),
  ) as unknown;
}
