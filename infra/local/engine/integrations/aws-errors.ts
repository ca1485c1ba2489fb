import { TaskError } from '../task-rules.ts';

/*
 * How Step Functions names the errors of the AWS services it calls, so a Retry or Catch written for AWS matches
 * the same error here. Two families, learnt from the documentation ("Learning to use AWS service SDK
 * integrations": `ServiceName.ErrorName`, both PascalCase, always with the `Exception` suffix) and from
 * executions recorded against AWS:
 * - `aws-sdk:*` Tasks: `<Service>.<Exception>` where the service is the SDK's service id in Java-style PascalCase
 *   (`DynamoDb`, `Sfn`, `S3`, `SecretsManager`); an error the service's model does not declare is
 *   `<Service>.<Service>Exception` (e.g. a DynamoDB validation error is `DynamoDb.DynamoDbException`); the cause
 *   is `<message> (Service: <Service>, Status Code: <n>, Request ID: <id>)`.
 * - optimized integrations (`sns:publish`, `sqs:sendMessage`, `events:putEvents`, `dynamodb:*Item`): their own
 *   prefixes (`SNS.`, `SQS.`, `EventBridge.`, `DynamoDB.`), an undeclared error is `SNS.AmazonSNSException`,
 *   `DynamoDB.AmazonDynamoDBException`…, and the cause reads
 *   `<message> (Service: AmazonSNS; Status Code: <n>; Error Code: <code>; Request ID: <id>; Proxy: null)`.
 * An error that never reached the service (connection refused, DNS) is `<prefix>.SdkClientException`.
 */

/** An AWS SDK v3 service error, as far as this module reads it. */
interface SdkServiceError {
  readonly name: string;
  readonly message: string;
  readonly Code?: unknown;
  readonly __type?: unknown;
  readonly $metadata?: {
    readonly httpStatusCode?: number;
    readonly requestId?: string;
    readonly extendedRequestId?: string;
  };
}

/** The optimized integrations' naming: error prefix, the Java SDK's service name in causes, its base exception. */
export interface OptimizedNaming {
  readonly prefix: string;
  readonly serviceName: string;
  readonly baseException: string;
}

export const OPTIMIZED_NAMING = {
  sns: { prefix: 'SNS', serviceName: 'AmazonSNS', baseException: 'AmazonSNSException' },
  sqs: { prefix: 'SQS', serviceName: 'AmazonSQS', baseException: 'AmazonSQSException' },
  events: {
    prefix: 'EventBridge',
    serviceName: 'AmazonEventBridge',
    baseException: 'AmazonEventBridgeException',
  },
  dynamodb: {
    prefix: 'DynamoDB',
    serviceName: 'AmazonDynamoDBv2',
    baseException: 'AmazonDynamoDBException',
  },
} as const satisfies Record<string, OptimizedNaming>;

/**
 * The Java-style PascalCase of an SDK service id, as Step Functions prefixes `aws-sdk` errors: words split on
 * spaces, hyphens and case changes, each capitalised with the rest lower case (`DynamoDB` → `DynamoDb`,
 * `SFN` → `Sfn`, `ACM PCA` → `AcmPca`, `Secrets Manager` → `SecretsManager`, `EventBridge` → `EventBridge`).
 */
export function sdkServicePrefix(serviceId: string): string {
  const words = serviceId.match(/[A-Z]+(?![a-z])\d*|[A-Z]?[a-z]+\d*|\d+/g) ?? [serviceId];
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()).join('');
}

function withSuffix(name: string): string {
  return name.endsWith('Exception') ? name : `${name}Exception`;
}

/** True when the error came back from the service (it has the SDK's response metadata). */
function isServiceError(err: unknown): err is SdkServiceError {
  return err instanceof Error && typeof (err as SdkServiceError).$metadata === 'object';
}

/** The wire error code: the JSON protocols' `__type` (after `#`), the query protocols' `Code`, else the name. */
function errorCode(err: SdkServiceError): string {
  if (typeof err.__type === 'string') return err.__type.split('#').pop() ?? err.name;
  if (typeof err.Code === 'string') return err.Code;
  return err.name;
}

/**
 * Whether the service's model declares this error: the SDK throws undeclared ones as the client's base
 * `<Service>ServiceException` itself, declared ones as a subclass of it.
 */
function isDeclared(err: Error): boolean {
  const ctor = (err as { constructor?: { name?: string } }).constructor?.name ?? '';
  return !ctor.endsWith('ServiceException');
}

function clientError(prefix: string, err: unknown): TaskError {
  const message = err instanceof Error ? err.message : String(err);
  return new TaskError(`${prefix}.SdkClientException`, `Unable to execute HTTP request: ${message}`);
}

/** The Task error Step Functions reports for an `aws-sdk:<service>:<action>` call that failed. */
export function awsSdkTaskError(prefix: string, err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  if (!isServiceError(err)) return clientError(prefix, err);
  const name = isDeclared(err) ? withSuffix(err.name) : `${prefix}Exception`;
  const m = err.$metadata ?? {};
  const details = [
    `Service: ${prefix}`,
    `Status Code: ${m.httpStatusCode ?? 0}`,
    `Request ID: ${m.requestId ?? 'null'}`,
    ...(m.extendedRequestId ? [`Extended Request ID: ${m.extendedRequestId}`] : []),
  ];
  return new TaskError(`${prefix}.${name}`, `${err.message} (${details.join(', ')})`);
}

/** The Task error Step Functions reports for an optimized integration's call that failed. */
export function optimizedTaskError(naming: OptimizedNaming, err: unknown): TaskError {
  if (err instanceof TaskError) return err;
  if (!isServiceError(err)) return clientError(naming.prefix, err);
  const name = isDeclared(err) ? withSuffix(err.name) : naming.baseException;
  const m = err.$metadata ?? {};
  const cause =
    `${err.message} (Service: ${naming.serviceName}; Status Code: ${m.httpStatusCode ?? 0}; ` +
    `Error Code: ${errorCode(err)}; Request ID: ${m.requestId ?? 'null'}; Proxy: null)`;
  return new TaskError(`${naming.prefix}.${name}`, cause);
}

/** The error an embedded stand-in raises where the service would have answered 4xx, named as through the SDK. */
export function optimizedServiceError(
  naming: OptimizedNaming,
  error: { code: string; exception?: string; message: string; status?: number },
  requestId: string,
): TaskError {
  const name = error.exception ? withSuffix(error.exception) : naming.baseException;
  const cause =
    `${error.message} (Service: ${naming.serviceName}; Status Code: ${error.status ?? 400}; ` +
    `Error Code: ${error.code}; Request ID: ${requestId}; Proxy: null)`;
  return new TaskError(`${naming.prefix}.${name}`, cause);
}
