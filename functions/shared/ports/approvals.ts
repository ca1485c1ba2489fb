import type { approvals } from '../db/schema.ts';

/** Who may decide an approval: exact principals (IAM ARNs on AWS, the local user's name embedded) and roles. */
export interface Approvers {
  readonly principals: readonly string[];
  readonly roles: readonly string[];
}

/** What is asked. */
export interface ApprovalPrompt {
  readonly title: string;
  readonly summary?: string | undefined;
  /** The thing to approve (a diff, a plan, a payment), shown to the decider as is. */
  readonly payload?: unknown;
  readonly link?: string | undefined;
}

/** A decision as recorded (and sent to the waiting task on approve). */
export interface ApprovalDecision {
  readonly decision: 'approve' | 'reject';
  readonly comment: string | null;
}

export type ApprovalRow = typeof approvals.$inferSelect;

export interface NewApproval {
  readonly id: string;
  readonly executionId: string;
  readonly stateName: string;
  /** One request per state entry: a retried request returns the row it wrote (with the newest token). */
  readonly entryKey: string;
  readonly prompt: ApprovalPrompt;
  readonly approvers: Approvers;
  readonly taskToken: string;
  readonly expiresAt: Date;
}

/**
 * Where pending approvals and their decisions are kept. Each change is one statement that also writes its
 * outbox event (`approval.requested|decided|expired`) and moves the execution between `running` and
 * `waiting_approval`. Implemented over the store's `approvals` table (`approvals/store-approvals.ts`, the
 * embedded default) and over the DynamoDB approvals table with the store as audit copy
 * (`approvals/dynamo-approvals.ts`, AWS).
 */
export interface ApprovalStore {
  /** Records a pending approval (idempotent per entry key); `created` is false for a retried request. */
  request(input: NewApproval): Promise<{ approval: ApprovalRow; created: boolean }>;
  get(id: string): Promise<ApprovalRow | undefined>;
  /** Newest first. */
  list(query: { status?: ApprovalRow['status'] | undefined; limit: number }): Promise<ApprovalRow[]>;
  /** Records the decision of a still pending approval; undefined (nothing changed) when it is not pending. */
  recordDecision(input: {
    id: string;
    decision: ApprovalDecision;
    decidedBy: string;
  }): Promise<ApprovalRow | undefined>;
  /**
   * Every pending approval past its expiry (at `now`, default: the adapter's clock) becomes `expired`, with
   * `approval.expired` written once per approval however many callers race; returns the ids this call expired.
   */
  expireDue(now?: Date): Promise<string[]>;
  /** One pending approval becomes `expired` now (its task timed out on the engine), whatever its clock said. */
  markExpired(id: string): Promise<ApprovalRow | undefined>;
}
