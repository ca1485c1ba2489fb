import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { sfnEngine } from '#shared/adapters/sfn-engine';
import { getRuntime } from '#shared/runtime';
import { createApp } from './app.ts';

const sfn = new SFNClient({});

type Handle = ReturnType<typeof handle>;
/** API Gateway REST (v1) proxy events, among the others Hono's adapter accepts. */
type LambdaEvent = Parameters<Handle>[0];
let app: Promise<Handle> | undefined;

/** Builds the app on the first request and keeps it for the container's life (a failed build is retried). */
function getApp(): Promise<Handle> {
  app ??= getRuntime()
    .then((runtime) =>
      handle(
        createApp({
          store: runtime.store,
          engine: sfnEngine(sfn, runtime.config.stateMachines),
          defaultBudgetMicros: runtime.config.defaultBudgetMicros,
        }),
      ),
    )
    .catch((err: unknown) => {
      app = undefined;
      throw err;
    });
  return app;
}

/** Lambda behind API Gateway (REST, proxy integration): the same Hono app `wflo dev` serves. */
export const handler = async (event: LambdaEvent, context: Context) => (await getApp())(event, context);
