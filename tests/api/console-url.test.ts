import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sfnEngine } from '#shared/adapters/sfn-engine';
import type { Store } from '#shared/ports/store';
import { createApp } from '../../functions/api/app.ts';
import { openTestStore } from '../helpers/database.ts';

const sfn = mockClient(SFNClient);
const REGION = 'eu-west-1';
const ARN = `arn:aws:states:${REGION}:123456789012:stateMachine:wflo-dev-agent-loop`;

let db: { store: Store; close(): Promise<void> };
beforeAll(async () => {
  db = await openTestStore();
});
afterAll(() => db.close());
afterEach(() => sfn.reset());

describe('API on the Step Functions engine', () => {
  it('names the execution for the console, starts it under that name, and returns its console URL', async () => {
    // Prepare
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'ignored', startDate: new Date() });
    const app = createApp({
      store: db.store,
      engine: sfnEngine(new SFNClient({ region: REGION }), { 'agent-loop': ARN }),
    });

    // Act
    const started = await app.request('/workflows/agent-loop/executions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: { goal: 'Find the console' }, idempotencyKey: 'ticket-7' }),
    });
    const body = (await started.json()) as { executionId: string; consoleUrl: string };
    const read = (await (await app.request(`/executions/${body.executionId}`)).json()) as typeof body;

    // Assess
    expect(started.status).toBe(201);
    expect(body.executionId).toMatch(/^agent-loop-ticket-7-[0-9a-f]{12}$/);
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.name).toBe(body.executionId);
    expect(body.consoleUrl).toBe(
      `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/` +
        `arn:aws:states:${REGION}:123456789012:execution:wflo-dev-agent-loop:${body.executionId}`,
    );
    expect(read.consoleUrl).toBe(body.consoleUrl);
  });
});
