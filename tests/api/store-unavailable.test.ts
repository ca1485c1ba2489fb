import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sfnEngine } from '#shared/adapters/sfn-engine';
import { StoreUnavailableError } from '#shared/errors';
import type { Store } from '#shared/ports/store';
import { createApp } from '../../functions/api/app.ts';
import { openTestStore } from '../helpers/database.ts';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:wflo-dev-hello';

let db: { store: Store; close(): Promise<void> };
beforeAll(async () => {
  db = await openTestStore();
}, 120_000);
afterAll(() => db.close());

/** The real store, with one operation failing as a passing fault (PostgreSQL's admin shutdown) does. */
function storeFailing(operation: 'getExecution' | 'listExecutions'): Store {
  const fault = new StoreUnavailableError(`${operation}: connection lost (57P01)`, '57P01');
  return new Proxy(db.store, {
    get(target, key, receiver) {
      if (key === operation) return () => Promise.reject(fault);
      return Reflect.get(target, key, receiver);
    },
  });
}

describe('API when the store is unavailable', () => {
  it('answers 503 with Retry-After and a problem document that carries no store detail', async () => {
    // Prepare
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const engine = sfnEngine(new SFNClient({ region: 'eu-west-1' }), { hello: ARN });
    const one = createApp({ store: storeFailing('getExecution'), engine });
    const list = createApp({ store: storeFailing('listExecutions'), engine });

    // Act
    const read = await one.request('/executions/hello-abc');
    const listed = await list.request('/executions');
    const body = (await read.json()) as { status: number; title: string; detail: string };

    // Assess
    for (const res of [read, listed]) {
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect(body).toMatchObject({ status: 503, title: 'Service unavailable' });
    expect(body.detail).not.toMatch(/57P01|connection|getExecution/);
    expect(error).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledWith('store unavailable', expect.objectContaining({ code: '57P01' }));
    warn.mockRestore();
    error.mockRestore();
  });
});
