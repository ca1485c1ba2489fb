/**
 * Every error an activity can raise. Each class carries a stable `name` because Step Functions
 * matches Retry/Catch on it (`ErrorEquals`), on AWS and in the local orchestrator alike.
 * Renaming one is a breaking change for every ASL file that names it.
 */
export class WfloError extends Error {
  override name = 'WfloError';
  /** Whether a Retry on this error can succeed. Only informative; the ASL decides. */
  readonly retryable: boolean = false;
}

/** Input failed validation. Never retryable: the same input fails the same way. */
export class ValidationError extends WfloError {
  override name = 'ValidationError';
  /** The fields that failed, as `path: message`. */
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.issues = issues;
  }
}

/** A reservation against the execution's budget did not fit. The ASL ends the run as budget_exceeded. */
export class BudgetExceededError extends WfloError {
  override name = 'BudgetExceededError';
}

/** Another owner holds the lock; the ASL Retry on this error is the wait loop. */
export class LockNotAcquiredError extends WfloError {
  override name = 'LockNotAcquiredError';
  override readonly retryable = true;
}

/** A bounded wait for a lock ran out: another owner held it the whole time. Names the lock and the wait. */
export class LockTimeoutError extends WfloError {
  override name = 'LockTimeoutError';
  override readonly retryable = true;
}

/** A renew or release by an owner that does not hold the lock (another does): nothing was changed. */
export class LockNotHeldError extends WfloError {
  override name = 'LockNotHeldError';
}

/**
 * A write to a fenced resource carried a fencing token older than the newest the resource has seen: its
 * writer's lock expired and was granted again. Never retryable with the same token.
 */
export class StaleFencingTokenError extends WfloError {
  override name = 'StaleFencingTokenError';
}

/** Sandboxed code exited non-zero or could not run. */
export class SandboxFailedError extends WfloError {
  override name = 'SandboxFailedError';
}

/** Sandboxed code was killed at its wall-clock limit. */
export class SandboxTimeoutError extends WfloError {
  override name = 'SandboxTimeoutError';
}

/** A human rejected the approval request. */
export class ApprovalRejectedError extends WfloError {
  override name = 'ApprovalRejectedError';
}

/** A model provider's failure, with the HTTP status when there was one. */
abstract class LlmError extends WfloError {
  readonly status: number | undefined;
  /** How long the provider asked callers to wait (its `Retry-After`), when it said. Informative only. */
  readonly retryAfterSeconds: number | undefined;
  /**
   * The client gave up waiting (its timeout or the invocation's deadline) after the request was sent: the
   * provider may still answer and bill, so the call's hold becomes unconfirmed spend, not a release.
   */
  readonly abandoned: boolean;
  constructor(
    message: string,
    status?: number,
    options?: ErrorOptions & {
      readonly retryAfterSeconds?: number | undefined;
      readonly abandoned?: boolean | undefined;
    },
  ) {
    super(message, options);
    this.status = status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.abandoned = options?.abandoned ?? false;
  }
}

/** The provider failed in a way that may pass on retry: 429, 5xx, network, timeout. */
export class LlmProviderError extends LlmError {
  override name = 'LlmProviderError';
  override readonly retryable = true;
}

/** The provider refused the request itself (4xx other than 429): retrying cannot help. */
export class LlmRequestInvalidError extends LlmError {
  override name = 'LlmRequestInvalidError';
}

/** A model has no entry in the price table, so its cost cannot be known. */
export class UnknownModelPriceError extends WfloError {
  override name = 'UnknownModelPriceError';
}

/** Configuration is missing or malformed. Raised at start, never mid-run. */
export class ConfigError extends WfloError {
  override name = 'ConfigError';
}

/** A decision was refused because the decider is not among the approval's approvers. */
export class ForbiddenError extends WfloError {
  override name = 'ForbiddenError';
}

/** A decision came after the approval's expiry, or its task is gone (timed out on the engine). */
export class ApprovalExpiredError extends WfloError {
  override name = 'ApprovalExpiredError';
  /** When the approval expired (ISO 8601), when known. */
  readonly expiresAt: string | undefined;
  constructor(message: string, expiresAt?: string, options?: ErrorOptions) {
    super(message, options);
    this.expiresAt = expiresAt;
  }
}

/**
 * The engine refused to resume a waiting task: `TaskDoesNotExist` (the execution ended, or the token was
 * already used), `TaskTimedOut` (its TimeoutSeconds or HeartbeatSeconds passed), `InvalidToken`, or
 * `InvalidOutput` (SendTaskSuccess output that is not JSON or exceeds 256 KiB). The same names on Step
 * Functions and on the embedded engine.
 */
export class TaskCallbackError extends WfloError {
  override name = 'TaskCallbackError';
  readonly reason: 'TaskDoesNotExist' | 'TaskTimedOut' | 'InvalidToken' | 'InvalidOutput';
  constructor(reason: TaskCallbackError['reason'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** The API could not tell who is calling (no IAM principal on the request). */
export class UnauthenticatedError extends WfloError {
  override name = 'UnauthenticatedError';
}

/** This API cannot serve the request here (e.g. a runtime that cannot resume waiting tasks). */
export class ServiceUnavailableError extends WfloError {
  override name = 'ServiceUnavailableError';
}

/** A lookup found nothing (execution, workflow). */
export class NotFoundError extends WfloError {
  override name = 'NotFoundError';
}

/** A request conflicts with existing state, e.g. an idempotency key reused with another input. */
export class ConflictError extends WfloError {
  override name = 'ConflictError';
}

/** Execution input exceeds the Step Functions 256 KiB payload limit. */
export class PayloadTooLargeError extends WfloError {
  override name = 'PayloadTooLargeError';
}

/** An artifact (e.g. a sandbox result object) is larger than its reader accepts; nothing past the limit was read. */
export class ArtifactTooLargeError extends WfloError {
  override name = 'ArtifactTooLargeError';
}

/**
 * The reconciler could not describe some executions for a reason other than throttling (e.g. AccessDenied);
 * it reconciled the others first, then fails the invocation so the reconciler's error alarm sees it.
 */
export class ReconcileFailedError extends WfloError {
  override name = 'ReconcileFailedError';
}

/** The wflo API answered a request with an error status (the CLI's `--api-url` client); carries the problem. */
export class ApiRequestError extends WfloError {
  override name = 'ApiRequestError';
  readonly status: number;
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/**
 * The store could not be reached or refused a statement for a passing reason (connection lost, server
 * restarting or shutting down, serialization failure or deadlock, Aurora resuming, Data API throttling).
 * Retryable: the standard Retry of every Lambda Task matches this name. The message names the store
 * operation and the driver's code, never the SQL text or its parameters.
 */
export class StoreUnavailableError extends WfloError {
  override name = 'StoreUnavailableError';
  /** The driver's code (SQLSTATE, errno, or AWS error name). */
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** A store statement failed for a reason a retry will not fix; the message is free of SQL text and parameters. */
export class StoreError extends WfloError {
  override name = 'StoreError';
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** The names ASL files may match, for docs and tests. */
export const ERROR_NAMES = [
  'ValidationError',
  'BudgetExceededError',
  'LockNotAcquiredError',
  'LockTimeoutError',
  'LockNotHeldError',
  'StaleFencingTokenError',
  'SandboxFailedError',
  'SandboxTimeoutError',
  'ApprovalRejectedError',
  'LlmProviderError',
  'LlmRequestInvalidError',
  'UnknownModelPriceError',
  'StoreUnavailableError',
  'StoreError',
] as const;

/**
 * A batch of outbox events did not reach Kafka (broker down or too slow to acknowledge): the relay retries
 * it; the events stay in the outbox meanwhile, so nothing is lost.
 */
export class EventBrokerUnavailableError extends WfloError {
  override name = 'EventBrokerUnavailableError';
}
