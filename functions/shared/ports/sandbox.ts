/**
 * Port: run untrusted code once and report what happened. Adapters: the local process sandbox
 * (bubblewrap, `infra/local/engine/sandbox/local-sandbox.ts`) and, on AWS, a Fargate task running
 * `sandbox-image/` (driven by Step Functions, not by this interface). The request/result shapes are the
 * sandbox's own contract (`sandbox-image/src/contract.ts`).
 */

import type { SandboxCodeRequest, SandboxResult } from '../../../sandbox-image/src/contract.ts';

export {
  SANDBOX_LANGUAGES,
  type SandboxLanguage,
  type SandboxLimits,
  type SandboxResult,
} from '../../../sandbox-image/src/contract.ts';

/** One run as the port takes it: the contract's request, plus a way to cancel it. */
export interface SandboxRequest extends SandboxCodeRequest {
  /** Aborting kills the program like the timeout does (without `timedOut`); e.g. the run was cancelled. */
  readonly signal?: AbortSignal;
}

/** Runs untrusted code under limits. Never throws for what the code does, only when it cannot run it. */
export interface SandboxRunner {
  run(request: SandboxRequest): Promise<SandboxResult>;
}
