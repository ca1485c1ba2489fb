import { fileURLToPath } from 'node:url';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { sfnEngine } from '#shared/adapters/sfn-engine';
import { sfnTaskCallbacks } from '#shared/adapters/sfn-task-callbacks';
import { getApprovals } from '#shared/wiring/approvals';
import { getConfig } from '#shared/wiring/config';
import { getStore } from '#shared/wiring/store';
import { readInputSchemas } from '#shared/workflow-inputs';
import { createApp } from './app.ts';
import { iamDecider } from './approvals.ts';
import { installLiteWeb } from './lite-web.ts';

// Headers, Request and Response without evaluating undici until a request needs a real one (lite-web.ts):
// about 18 ms of CPU off a GET's cold start.
installLiteWeb();

const sfn = new SFNClient({});
const callbacks = sfnTaskCallbacks(sfn);
/** The workflows' input schemas, copied next to the bundle at synth (infra/stacks/api-stack.ts). */
const INPUT_SCHEMAS_DIR = fileURLToPath(new URL('./workflows', import.meta.url));

type Handle = ReturnType<typeof handle>;
/** API Gateway REST (v1) proxy events, among the others Hono's adapter accepts. */
type LambdaEvent = Parameters<Handle>[0];
let app: Promise<Handle> | undefined;

/** Builds the app on the first request and keeps it for the container's life (a failed build is retried). */
function getApp(): Promise<Handle> {
  app ??= Promise.all([getStore(), getConfig(), getApprovals()])
    .then(([store, config, approvals]) =>
      handle(
        createApp({
          store,
          engine: sfnEngine(sfn, config.stateMachines, {}, readInputSchemas(INPUT_SCHEMAS_DIR)),
          defaultBudgetMicros: config.defaultBudgetMicros,
          // The decider is the IAM caller API Gateway verified; the decision resumes the task on Step Functions.
          approvals: { store: approvals, callbacks, identify: iamDecider },
          // POST /task-tokens/…: SendTaskSuccess/Failure/Heartbeat on Step Functions.
          taskTokens: callbacks,
        }),
      ),
    )
    .catch((err: unknown) => {
      app = undefined;
      throw err;
    });
  return app;
}

/** Lambda behind API Gateway (REST, proxy integration): the same Hono app `wflo dev` serves. Uses the store and Step Functions. */
export const handler = async (event: LambdaEvent, context: Context) => (await getApp())(event, context);
