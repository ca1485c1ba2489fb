import { createHash, randomUUID } from 'node:crypto';
import { EVENTS } from '#shared/events/catalogue';
import type { Store } from '#shared/ports/store';
import { TaskError } from '../task-rules.ts';
import type { LocalIntegrationContext } from '../types.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../workflows.ts';
import { type HttpInfo, httpOf } from './aws-clients.ts';
import { OPTIMIZED_NAMING, optimizedServiceError } from './aws-errors.ts';

/*
 * SNS publish, SQS send and EventBridge put-events, as Step Functions calls them. With no endpoint configured
 * for the service, the embedded stand-in records the message as a wflo event in the run's outbox
 * (`integration.sns.published`, `integration.sqs.sent`, `integration.events.put`: in
 * `GET /executions/{id}/events`, the SSE stream and the Kafka relay) and answers with the service's result
 * shape and freshly generated ids; nothing is delivered anywhere. The request rules the services enforce on
 * every call (required fields, FIFO group ids, EventBridge's per-entry checks) are enforced here too, with the
 * service's error names; rules that depend on the account's resources (does the topic exist?) cannot be.
 *
 * The parameter rewrites are Step Functions', for both paths (embedded or a real endpoint): a non-string SNS
 * `Message`, SQS `MessageBody` or EventBridge `Detail` is sent as its JSON text, and `events:putEvents` adds the
 * state machine's and the execution's ARNs to each entry's `Resources`.
 */

/** Which result shape to answer with: an optimized integration's (with `SdkHttpMetadata`) or `aws-sdk`'s. */
export type ResultStyle = 'optimized' | 'aws-sdk';

type Params = Record<string, unknown>;

function asParams(params: unknown): Params {
  return params && typeof params === 'object' && !Array.isArray(params) ? { ...(params as Params) } : {};
}

const asText = (value: unknown): unknown =>
  value === undefined || value === null || typeof value === 'string' ? value : JSON.stringify(value);

/** The ARNs of the running state machine and execution, as `$$.StateMachine.Id` / `$$.Execution.Id` name them. */
export function runArns(ctx: LocalIntegrationContext): { stateMachine: string; execution: string } {
  const base = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}`;
  return {
    stateMachine: `${base}:stateMachine:${ctx.workflow}`,
    execution: `${base}:execution:${ctx.workflow}:${ctx.executionId}`,
  };
}

/** `SNS.Publish` parameters as Step Functions sends them (a non-string Message becomes its JSON text). */
export function snsPublishInput(params: unknown): Params {
  const p = asParams(params);
  if ('Message' in p) p.Message = asText(p.Message);
  return p;
}

/** `SQS.SendMessage` parameters as Step Functions sends them (a non-string MessageBody becomes its JSON text). */
export function sqsSendInput(params: unknown): Params {
  const p = asParams(params);
  if ('MessageBody' in p) p.MessageBody = asText(p.MessageBody);
  return p;
}

/**
 * `EventBridge.PutEvents` parameters as the optimized integration sends them: each object `Detail` as its JSON
 * text and the state machine's and execution's ARNs appended to each entry's `Resources`.
 */
export function putEventsInput(params: unknown, ctx: LocalIntegrationContext, style: ResultStyle): Params {
  const p = asParams(params);
  if (!Array.isArray(p.Entries)) return p;
  const arns = runArns(ctx);
  p.Entries = p.Entries.map((entry: unknown) => {
    const e = asParams(entry);
    if (e.Detail !== null && typeof e.Detail === 'object') e.Detail = JSON.stringify(e.Detail);
    if (style === 'optimized') {
      const resources = Array.isArray(e.Resources) ? e.Resources : [];
      e.Resources = [...resources, arns.stateMachine, arns.execution];
    }
    return e;
  });
  return p;
}

/** An AWS request id: what `x-amzn-RequestId` carries. */
const requestId = (): string => randomUUID();

/**
 * `SdkHttpMetadata` and `SdkResponseMetadata`, which optimized integrations add to the service's result: from
 * the HTTP response when the call went over HTTP, else as the service's response would have carried them.
 */
export function sdkMetadata(
  http: HttpInfo | undefined,
  fallback: { requestId: string; contentType: string; body: unknown; statusCode?: number },
): Record<string, unknown> {
  const headers: Record<string, string> = http
    ? { ...http.headers }
    : {
        'Content-Length': String(Buffer.byteLength(JSON.stringify(fallback.body))),
        'Content-Type': fallback.contentType,
        Date: new Date().toUTCString(),
        'x-amzn-RequestId': fallback.requestId,
      };
  const id =
    Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-amzn-requestid')?.[1] ?? fallback.requestId;
  return {
    SdkHttpMetadata: {
      AllHttpHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      HttpHeaders: headers,
      HttpStatusCode: http?.statusCode ?? fallback.statusCode ?? 200,
    },
    SdkResponseMetadata: { RequestId: id },
  };
}

/** The metadata of an SDK output (see {@link sdkMetadata}), from its captured HTTP response or `$metadata`. */
export function metadataOfOutput(
  output: unknown,
  contentType: string,
  body: unknown,
): Record<string, unknown> {
  const meta = (output as { $metadata?: { requestId?: string; httpStatusCode?: number } } | undefined)
    ?.$metadata;
  return sdkMetadata(httpOf(output), {
    requestId: meta?.requestId ?? requestId(),
    contentType,
    body,
    ...(meta?.httpStatusCode ? { statusCode: meta.httpStatusCode } : {}),
  });
}

/** A FIFO sequence number: SNS and SQS give 20 or more digits, increasing. */
let lastSequence = 0n;
function sequenceNumber(): string {
  const next = BigInt(Date.now()) * 1_000_000n;
  lastSequence = next > lastSequence ? next : lastSequence + 1n;
  return lastSequence.toString().padStart(20, '0');
}

const isFifo = (name: unknown): boolean => typeof name === 'string' && name.endsWith('.fifo');

/** The embedded `sns:publish`: validates as SNS does, records `integration.sns.published`, answers SNS's result. */
export async function embeddedSnsPublish(
  params: unknown,
  ctx: LocalIntegrationContext,
  deps: { store: Store; style: ResultStyle },
): Promise<unknown> {
  const p = snsPublishInput(params);
  const id = requestId();
  const fail = (code: string, message: string, exception?: string) =>
    optimizedServiceError(OPTIMIZED_NAMING.sns, { code, message, ...(exception ? { exception } : {}) }, id);
  const target = p.TopicArn ?? p.TargetArn ?? p.PhoneNumber;
  if (typeof target !== 'string' || target === '') {
    throw fail(
      'InvalidParameter',
      'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter',
      'InvalidParameterException',
    );
  }
  if (typeof p.Message !== 'string') {
    throw fail(
      'ValidationError',
      "1 validation error detected: Value null at 'message' failed to satisfy constraint: Member must not be null",
    );
  }
  const fifo = isFifo(p.TopicArn ?? p.TargetArn);
  if (fifo && typeof p.MessageGroupId !== 'string') {
    throw fail(
      'InvalidParameter',
      'Invalid parameter: The MessageGroupId parameter is required for FIFO topics',
      'InvalidParameterException',
    );
  }
  const result: Record<string, unknown> = { MessageId: randomUUID() };
  if (fifo) result.SequenceNumber = sequenceNumber();
  await deps.store.appendEvents(ctx.executionId, [
    {
      type: EVENTS.integrationSnsPublished,
      payload: { executionId: ctx.executionId, state: ctx.stateName, request: p, ...result },
    },
  ]);
  if (deps.style === 'aws-sdk') return result;
  return { ...result, ...sdkMetadata(undefined, { requestId: id, contentType: 'text/xml', body: result }) };
}

/**
 * SQS's MD5 of message attributes: over the attributes sorted by name, each as length-prefixed name, data type,
 * a transport byte (1 string, 2 binary) and length-prefixed value.
 */
export function md5OfMessageAttributes(attributes: Record<string, unknown>): string {
  const hash = createHash('md5');
  const field = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const a = asParams(attributes[name]);
    field(Buffer.from(name, 'utf8'));
    field(Buffer.from(String(a.DataType ?? ''), 'utf8'));
    if (a.BinaryValue !== undefined) {
      hash.update(Buffer.from([2]));
      field(
        typeof a.BinaryValue === 'string'
          ? Buffer.from(a.BinaryValue, 'base64')
          : Buffer.from(a.BinaryValue as Uint8Array),
      );
    } else {
      hash.update(Buffer.from([1]));
      field(Buffer.from(String(a.StringValue ?? ''), 'utf8'));
    }
  }
  return hash.digest('hex');
}

/** The embedded `sqs:sendMessage`: validates as SQS does, records `integration.sqs.sent`, answers SQS's result. */
export async function embeddedSqsSend(
  params: unknown,
  ctx: LocalIntegrationContext,
  deps: { store: Store; style: ResultStyle },
): Promise<unknown> {
  const p = sqsSendInput(params);
  const id = requestId();
  const missing = (name: string) =>
    optimizedServiceError(
      OPTIMIZED_NAMING.sqs,
      { code: 'MissingParameter', message: `The request must contain the parameter ${name}.` },
      id,
    );
  if (typeof p.QueueUrl !== 'string' || p.QueueUrl === '') throw missing('QueueUrl');
  if (typeof p.MessageBody !== 'string') throw missing('MessageBody');
  const fifo = isFifo(p.QueueUrl);
  if (fifo && typeof p.MessageGroupId !== 'string') throw missing('MessageGroupId');
  const result: Record<string, unknown> = {
    MD5OfMessageBody: createHash('md5').update(p.MessageBody, 'utf8').digest('hex'),
    MessageId: randomUUID(),
  };
  const attributes = p.MessageAttributes;
  if (attributes && typeof attributes === 'object' && Object.keys(attributes).length > 0) {
    result.MD5OfMessageAttributes = md5OfMessageAttributes(attributes as Record<string, unknown>);
  }
  if (fifo) result.SequenceNumber = sequenceNumber();
  await deps.store.appendEvents(ctx.executionId, [
    {
      type: EVENTS.integrationSqsSent,
      payload: { executionId: ctx.executionId, state: ctx.stateName, request: p, ...result },
    },
  ]);
  if (deps.style === 'aws-sdk') return result;
  return {
    ...result,
    ...sdkMetadata(undefined, { requestId: id, contentType: 'application/x-amz-json-1.0', body: result }),
  };
}

/** Why EventBridge refuses one entry of a PutEvents call, as its result reports it; undefined when it takes it. */
function entryError(entry: Params): { ErrorCode: string; ErrorMessage: string } | undefined {
  for (const field of ['Source', 'DetailType', 'Detail'] as const) {
    if (typeof entry[field] !== 'string' || entry[field] === '') {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
      };
    }
  }
  let detail: unknown;
  try {
    detail = JSON.parse(entry.Detail as string);
  } catch {
    detail = undefined;
  }
  if (!detail || typeof detail !== 'object' || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return undefined;
}

/** The failure of an optimized `events:putEvents` whose result has failed entries: `EventBridge.FailedEntry`. */
export function failedEntryError(result: { FailedEntryCount?: number }): TaskError | undefined {
  return (result.FailedEntryCount ?? 0) > 0
    ? new TaskError('EventBridge.FailedEntry', JSON.stringify(result))
    : undefined;
}

/**
 * The embedded `events:putEvents`: checks each entry as EventBridge does, records the accepted ones as one
 * `integration.events.put`, answers `{ Entries, FailedEntryCount }`; the optimized integration fails with
 * `EventBridge.FailedEntry` when an entry failed.
 */
export async function embeddedPutEvents(
  params: unknown,
  ctx: LocalIntegrationContext,
  deps: { store: Store; style: ResultStyle },
): Promise<unknown> {
  const p = putEventsInput(params, ctx, deps.style);
  const entries = p.Entries;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > 10) {
    throw optimizedServiceError(
      OPTIMIZED_NAMING.events,
      {
        code: 'ValidationException',
        message:
          "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10",
      },
      requestId(),
    );
  }
  const accepted: Record<string, unknown>[] = [];
  const results = entries.map((raw: unknown) => {
    const entry = asParams(raw);
    const error = entryError(entry);
    if (error) return error;
    const EventId = randomUUID();
    accepted.push({ EventId, ...entry, EventBusName: entry.EventBusName ?? 'default' });
    return { EventId };
  });
  const result = { Entries: results, FailedEntryCount: results.length - accepted.length };
  if (accepted.length > 0) {
    await deps.store.appendEvents(ctx.executionId, [
      {
        type: EVENTS.integrationEventsPut,
        payload: { executionId: ctx.executionId, state: ctx.stateName, entries: accepted },
      },
    ]);
  }
  if (deps.style === 'optimized') {
    const failed = failedEntryError(result);
    if (failed) throw failed;
  }
  return result;
}
