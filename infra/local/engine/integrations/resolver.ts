import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { Store } from '#shared/ports/store';
import { TaskError } from '../task-rules.ts';
import type { LocalIntegration, LocalIntegrationContext } from '../types.ts';
import {
  type ClientClass,
  clientClassOf,
  commandClassOf,
  configuredEndpoint,
  type Env,
  endpointVariable,
  installedSdkPackages,
  jsonOutput,
  loadSdkModule,
  newClient,
  regionOf,
  type SdkClient,
  type SdkModule,
} from './aws-clients.ts';
import {
  awsSdkTaskError,
  OPTIMIZED_NAMING,
  type OptimizedNaming,
  optimizedTaskError,
  sdkServicePrefix,
} from './aws-errors.ts';
import { EMBEDDED_CREDENTIALS, EmbeddedDynamoDb } from './dynamodb-embedded.ts';
import {
  embeddedPutEvents,
  embeddedSnsPublish,
  embeddedSqsSend,
  failedEntryError,
  metadataOfOutput,
  putEventsInput,
  type ResultStyle,
  snsPublishInput,
  sqsSendInput,
} from './messaging.ts';

/*
 * Resolves a Task's `Resource` to what runs it locally, when it names an AWS service integration:
 * - `arn:aws:states:::aws-sdk:<service>:<action>` (and `.waitForTaskToken`);
 * - the optimized `sns:publish`, `sqs:sendMessage`, `events:putEvents` (each also `.waitForTaskToken`) and
 *   `dynamodb:getItem|putItem|updateItem|deleteItem`.
 * With the service's endpoint configured (`AWS_ENDPOINT_URL_<SERVICE_ID>` or `AWS_ENDPOINT_URL`), the real AWS SDK
 * v3 client of that service is called there (an emulator, or a real account's endpoint). Without one, an
 * embedded stand-in runs it: SNS/SQS/EventBridge are recorded in the run's outbox (messaging.ts), DynamoDB runs
 * on the embedded dynalite (dynamodb-embedded.ts), and an exact-match local integration (e.g. the embedded S3)
 * answers the resources it serves. Anything else is refused, with the reason, when the workflow loads.
 */

/** How a Task resource resolved: what runs it, or why it cannot run here. */
export type Resolution =
  | {
      readonly ok: true;
      readonly integration: LocalIntegration;
      readonly callback: boolean;
      /** Where it runs: a configured endpoint through the SDK, or an embedded stand-in. */
      readonly via: 'endpoint' | 'embedded';
    }
  | { readonly ok: false; readonly reason: string };

const RESOURCE =
  /^arn:aws:states:::(aws-sdk:)?([a-z0-9-]+):([A-Za-z0-9]+)(\.waitForTaskToken|\.sync(?::2)?)?$/;

/** The optimized integrations served here: service → its SDK client, service id and actions. */
const OPTIMIZED = {
  sns: { serviceId: 'SNS', actions: ['publish'], callback: true },
  sqs: { serviceId: 'SQS', actions: ['sendMessage'], callback: true },
  events: { serviceId: 'EventBridge', actions: ['putEvents'], callback: true },
  dynamodb: {
    serviceId: 'DynamoDB',
    actions: ['getItem', 'putItem', 'updateItem', 'deleteItem'],
    callback: false,
  },
} as const;
type OptimizedService = keyof typeof OPTIMIZED;

/** A typed SDK client class, seen through the small surface this module uses (its middleware typing is wider). */
const asClientClass = (ctor: unknown): ClientClass => ctor as ClientClass;

const DYNAMODB_COMMANDS = {
  getItem: GetItemCommand,
  putItem: PutItemCommand,
  updateItem: UpdateItemCommand,
  deleteItem: DeleteItemCommand,
} as const;

const EMBEDDED_SDK_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  sns: ['publish'],
  sqs: ['sendMessage'],
  eventbridge: ['putEvents'],
};

export interface AwsIntegrationsOptions {
  /** The store the embedded SNS/SQS/EventBridge record their messages in (the run's outbox). */
  readonly store: Store;
  /** Where endpoints and the region are read from. @default process.env */
  readonly env?: Env;
  /** The embedded DynamoDB: its data directory (undefined: in memory) and its tables file. */
  readonly dynamoDb?: { readonly dir?: string; readonly tablesFile?: string };
}

/**
 * The embedded stand-ins name errors as the optimized integrations do (`SNS.InvalidParameterException`,
 * `SQS.AmazonSQSException`); an `aws-sdk` Task sees the same error under its own prefix (`Sns.…`, `Sqs.SqsException`).
 */
function asSdkError(err: unknown, naming: OptimizedNaming, prefix: string): unknown {
  if (!(err instanceof TaskError) || !err.name.startsWith(`${naming.prefix}.`)) return err;
  const name = err.name.slice(naming.prefix.length + 1);
  return new TaskError(
    `${prefix}.${name === naming.baseException ? `${prefix}Exception` : name}`,
    err.message,
  );
}

/** Resolves and runs AWS service integrations for one local orchestrator. */
export class AwsIntegrations {
  readonly #store: Store;
  readonly #env: Env;
  readonly #region: string;
  readonly #clients = new Map<string, SdkClient>();
  readonly #modules = new Map<string, SdkModule>();
  readonly #dynamo: EmbeddedDynamoDb;

  constructor(options: AwsIntegrationsOptions) {
    this.#store = options.store;
    this.#env = options.env ?? process.env;
    this.#region = regionOf(this.#env);
    this.#dynamo = new EmbeddedDynamoDb({ ...options.dynamoDb, region: this.#region });
  }

  /** The embedded DynamoDB (started on first use). */
  get dynamoDb(): EmbeddedDynamoDb {
    return this.#dynamo;
  }

  /**
   * What runs `resource`, or why nothing can; undefined when it names no AWS service integration handled here
   * (Lambda, ECS, nested executions: the caller's business).
   * @param exact the local integration registered for exactly this resource, if any: it serves the resource
   *   unless the service's endpoint is configured
   */
  resolve(resource: string, exact?: LocalIntegration): Resolution | undefined {
    const m = RESOURCE.exec(resource);
    if (!m) return undefined;
    const [, sdk, service = '', action = '', suffix] = m;
    const callback = suffix === '.waitForTaskToken';
    if (sdk) return this.#resolveSdk(service, action, suffix, exact);
    if (!(service in OPTIMIZED)) return undefined;
    const spec = OPTIMIZED[service as OptimizedService];
    if (!(spec.actions as readonly string[]).includes(action)) {
      return {
        ok: false,
        reason:
          `Step Functions has no optimized ${service}:${action} integration (it has ${spec.actions.join(', ')}); ` +
          `call arn:aws:states:::aws-sdk:${service === 'events' ? 'eventbridge' : service}:${action} instead`,
      };
    }
    if (suffix && !(callback && spec.callback)) {
      return { ok: false, reason: `${service}:${action} does not support the ${suffix} pattern` };
    }
    const endpoint = configuredEndpoint(spec.serviceId, this.#env);
    if (!endpoint && exact) return { ok: true, integration: exact, callback, via: 'embedded' };
    const run = this.#optimized(service as OptimizedService, action, endpoint);
    return { ok: true, integration: run, callback, via: endpoint ? 'endpoint' : 'embedded' };
  }

  #resolveSdk(
    service: string,
    action: string,
    suffix: string | undefined,
    exact: LocalIntegration | undefined,
  ): Resolution {
    if (suffix && suffix !== '.waitForTaskToken') {
      return { ok: false, reason: `aws-sdk integrations do not support the ${suffix} pattern` };
    }
    const callback = suffix === '.waitForTaskToken';
    const pkg = installedSdkPackages().get(service);
    if (!pkg) {
      return {
        ok: false,
        reason: `it needs the AWS SDK package @aws-sdk/client-${service}, which is not installed (npm install @aws-sdk/client-${service})`,
      };
    }
    let mod: SdkModule;
    let ctor: ClientClass;
    try {
      mod = this.#module(pkg);
      ctor = clientClassOf(mod);
    } catch (err) {
      return { ok: false, reason: `${pkg} cannot be loaded: ${(err as Error).message}` };
    }
    const command = commandClassOf(mod, action);
    if (!command) return { ok: false, reason: `${pkg} has no action '${action}'` };
    const serviceId = this.#serviceId(ctor);
    const prefix = sdkServicePrefix(serviceId);
    const endpoint = configuredEndpoint(serviceId, this.#env);
    if (endpoint) {
      const run: LocalIntegration = async (params, ctx) => {
        const client = newClient(ctor, { endpoint, region: this.#region }, this.#clients);
        try {
          return await jsonOutput(await client.send(new command(params ?? {}), { abortSignal: ctx.signal }));
        } catch (err) {
          throw awsSdkTaskError(prefix, err);
        }
      };
      return { ok: true, integration: run, callback, via: 'endpoint' };
    }
    if (exact) return { ok: true, integration: exact, callback, via: 'embedded' };
    if (service === 'dynamodb') {
      const run: LocalIntegration = async (params, ctx) => {
        const client = await this.#embeddedDynamoClient(ctor);
        try {
          return await jsonOutput(await client.send(new command(params ?? {}), { abortSignal: ctx.signal }));
        } catch (err) {
          throw awsSdkTaskError(prefix, err);
        }
      };
      return { ok: true, integration: run, callback, via: 'embedded' };
    }
    if (EMBEDDED_SDK_ACTIONS[service]?.includes(action)) {
      const embedded = { sns: embeddedSnsPublish, sqs: embeddedSqsSend, eventbridge: embeddedPutEvents }[
        service as 'sns' | 'sqs' | 'eventbridge'
      ];
      const run: LocalIntegration = (params, ctx) =>
        embedded(params, ctx, { store: this.#store, style: 'aws-sdk' }).catch((err: unknown) => {
          throw asSdkError(
            err,
            OPTIMIZED_NAMING[service === 'eventbridge' ? 'events' : (service as 'sns' | 'sqs')],
            prefix,
          );
        });
      return { ok: true, integration: run, callback, via: 'embedded' };
    }
    return {
      ok: false,
      reason:
        `no ${serviceId} endpoint is configured (set ${endpointVariable(serviceId)} or AWS_ENDPOINT_URL to an ` +
        `emulator or the service's endpoint) and the local runtime has no embedded ${service}:${action}`,
    };
  }

  #optimized(service: OptimizedService, action: string, endpoint: string | undefined): LocalIntegration {
    const naming: OptimizedNaming = OPTIMIZED_NAMING[service];
    const style: ResultStyle = 'optimized';
    const deps = { store: this.#store, style };
    const client = (ctor: ClientClass) => newClient(ctor, { endpoint, region: this.#region }, this.#clients);
    const call = async (ctx: LocalIntegrationContext, c: SdkClient, command: unknown) => {
      try {
        return await c.send(command, { abortSignal: ctx.signal });
      } catch (err) {
        throw optimizedTaskError(naming, err);
      }
    };
    switch (service) {
      case 'sns':
        if (!endpoint) return (params, ctx) => embeddedSnsPublish(params, ctx, deps);
        return async (params, ctx) => {
          // The SNS, SQS and EventBridge clients load when a Task calls a configured endpoint: most starts
          // never do, and they were ~300 KB of JavaScript evaluated before `wflo dev` served.
          const { PublishCommand, SNSClient } = await import('@aws-sdk/client-sns');
          const out = await call(
            ctx,
            client(asClientClass(SNSClient)),
            new PublishCommand(snsPublishInput(params) as never),
          );
          const body = await jsonOutput(out);
          return { ...(body as object), ...metadataOfOutput(out, 'text/xml', body) };
        };
      case 'sqs':
        if (!endpoint) return (params, ctx) => embeddedSqsSend(params, ctx, deps);
        return async (params, ctx) => {
          const { SendMessageCommand, SQSClient } = await import('@aws-sdk/client-sqs');
          const out = await call(
            ctx,
            client(asClientClass(SQSClient)),
            new SendMessageCommand(sqsSendInput(params) as never),
          );
          const body = await jsonOutput(out);
          return { ...(body as object), ...metadataOfOutput(out, 'application/x-amz-json-1.0', body) };
        };
      case 'events':
        if (!endpoint) return (params, ctx) => embeddedPutEvents(params, ctx, deps);
        return async (params, ctx) => {
          const input = putEventsInput(params, ctx, style);
          const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
          const out = await call(
            ctx,
            client(asClientClass(EventBridgeClient)),
            new PutEventsCommand(input as never),
          );
          const body = (await jsonOutput(out)) as { FailedEntryCount?: number };
          const failed = failedEntryError(body);
          if (failed) throw failed;
          return body;
        };
      case 'dynamodb': {
        // The four commands take different inputs; the Task's Parameters are passed as they are, as on AWS.
        const command = DYNAMODB_COMMANDS[action as keyof typeof DYNAMODB_COMMANDS] as new (
          input: unknown,
        ) => unknown;
        return async (params, ctx) => {
          const c = endpoint
            ? client(asClientClass(DynamoDBClient))
            : await this.#embeddedDynamoClient(asClientClass(DynamoDBClient));
          const out = await call(ctx, c, new command(params ?? {}));
          const body = await jsonOutput(out);
          return { ...(body as object), ...metadataOfOutput(out, 'application/x-amz-json-1.0', body) };
        };
      }
    }
  }

  async #embeddedDynamoClient(ctor: ClientClass): Promise<SdkClient> {
    const endpoint = await this.#dynamo.endpoint();
    return newClient(
      ctor,
      { endpoint, region: this.#region, credentials: EMBEDDED_CREDENTIALS },
      this.#clients,
    );
  }

  #module(pkg: string): SdkModule {
    let mod = this.#modules.get(pkg);
    if (!mod) {
      mod = loadSdkModule(pkg);
      this.#modules.set(pkg, mod);
    }
    return mod;
  }

  /** The SDK's service id of a client class (`DynamoDB`, `SFN`, `Secrets Manager`), read from a throwaway client. */
  #serviceId(ctor: ClientClass): string {
    const probe = new ctor({ region: this.#region });
    const id = probe.config.serviceId;
    probe.destroy();
    return id;
  }

  /** Stops the embedded DynamoDB and closes every client. */
  async close(): Promise<void> {
    for (const c of this.#clients.values()) c.destroy();
    this.#clients.clear();
    await this.#dynamo.close();
  }
}
