import { EXECUTION_STATUSES, type ExecutionStatus } from '../ports/store.ts';

/**
 * Every outbox event type, declared once. The store's SQL binds these values as parameters and the
 * activities name them through {@link EventType}, so a type that is not here fails `tsc`.
 */
export const EVENTS = {
  executionCreated: 'execution.created',
  executionStarted: 'execution.started',
  executionResumed: 'execution.resumed',
  executionRedriven: 'execution.redriven',
  stepStarted: 'step.started',
  stepRetrying: 'step.retrying',
  stepSucceeded: 'step.succeeded',
  stepFailed: 'step.failed',
  costRecorded: 'cost.recorded',
  budgetWarning: 'budget.warning',
  /** A charge above its reservation's worst case: charged as reported; the run spends nothing more. */
  budgetOverrun: 'budget.overrun',
  cacheHit: 'cache.hit',
  llmCalled: 'llm.called',
  sandboxStarted: 'sandbox.started',
  sandboxFinished: 'sandbox.finished',
  lockAcquired: 'lock.acquired',
  lockReleased: 'lock.released',
  approvalRequested: 'approval.requested',
  approvalDecided: 'approval.decided',
  approvalExpired: 'approval.expired',
  /** A local run's `sns:publish` Task, recorded instead of sent when no SNS endpoint is configured. */
  integrationSnsPublished: 'integration.sns.published',
  /** A local run's `sqs:sendMessage` Task, recorded instead of sent when no SQS endpoint is configured. */
  integrationSqsSent: 'integration.sqs.sent',
  /** A local run's `events:putEvents` Task, recorded instead of put when no EventBridge endpoint is configured. */
  integrationEventsPut: 'integration.events.put',
} as const;

/** The event an execution's end writes: `execution.<status>` (the API's statuses, so any of them). */
export type ExecutionEndEvent = `execution.${ExecutionStatus}`;

/** Every type an `events` row may carry. */
export type EventType = (typeof EVENTS)[keyof typeof EVENTS] | ExecutionEndEvent;

/** The type of the event that ends an execution with `status`. */
export const executionEndEvent = (status: ExecutionStatus): ExecutionEndEvent => `execution.${status}`;

/** The type of the event that closes a step attempt. */
export const stepEndEvent = (status: 'succeeded' | 'failed'): EventType =>
  status === 'succeeded' ? EVENTS.stepSucceeded : EVENTS.stepFailed;

/** The whole catalogue as a list (for consumers and the test that checks what the store writes). */
export const EVENT_TYPES: readonly EventType[] = [
  ...Object.values(EVENTS),
  ...EXECUTION_STATUSES.map(executionEndEvent),
];
