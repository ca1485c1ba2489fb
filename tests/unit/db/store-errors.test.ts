import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guardStore, isTransientStoreError, toStoreError } from '#shared/db/errors';
import { untilWritten } from '#shared/db/retry';
import { BudgetExceededError, StoreError, StoreUnavailableError } from '#shared/errors';

/** What drizzle throws: its message carries the statement and parameters; the driver's error is the cause. */
function drizzleError(cause: object): Error {
  return new Error('Failed query: insert into "steps" ("input") values ($1)\nparams: my secret prompt', {
    cause: Object.assign(new Error('driver says no'), cause),
  });
}

describe('store errors', () => {
  it.each([
    ['57P01 admin shutdown', { code: '57P01' }],
    ['08006 connection failure', { code: '08006' }],
    ['40001 serialization failure', { code: '40001' }],
    ['40P01 deadlock', { code: '40P01' }],
    ['ECONNREFUSED', { code: 'ECONNREFUSED' }],
    ['Aurora resuming', { name: 'DatabaseResumingException' }],
    ['Data API throttling', { name: 'ThrottlingException' }],
  ])('%s is retryable: StoreUnavailableError without SQL text', (_label, cause) => {
    // Act
    const error = toStoreError(drizzleError(cause), 'recordCost');

    // Assess
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(error.name).toBe('StoreUnavailableError');
    expect(error.message).toMatch(/recordCost/);
    expect(error.message).not.toMatch(/insert|params|secret prompt/);
    expect(error.cause).toBeUndefined();
  });

  it('a dropped pg connection (no code, only a message) is retryable', () => {
    expect(isTransientStoreError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('a constraint violation is a StoreError, not retryable, and names only the code', () => {
    // Act
    const error = toStoreError(drizzleError({ code: '23514' }), 'createExecution');

    // Assess
    expect(error).toBeInstanceOf(StoreError);
    expect(error.message).toBe('store operation createExecution failed (23514)');
  });

  it('domain errors pass through unchanged', () => {
    const budget = new BudgetExceededError('over');
    expect(toStoreError(budget, 'reserveBudget')).toBe(budget);
  });

  it('guardStore maps rejections and throws of every method and keeps plain properties', async () => {
    // Prepare
    const store = guardStore({
      kind: 'postgres' as const,
      ok: async () => 42,
      down: async () => {
        throw drizzleError({ code: '57P01' });
      },
      broken: () => {
        throw drizzleError({ code: '42P01' });
      },
    });

    // Act + Assess
    expect(store.kind).toBe('postgres');
    await expect(store.ok()).resolves.toBe(42);
    await expect(store.down()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(() => store.broken()).toThrow(StoreError);
  });
});

describe('untilWritten', () => {
  it('retries a StoreUnavailableError with growing waits until the write lands', async () => {
    // Prepare
    const waits: number[] = [];
    let calls = 0;
    const write = async () => {
      calls++;
      if (calls < 5) throw new StoreUnavailableError('down', '57P01');
      return 'written';
    };

    // Act
    const result = await untilWritten(write, { sleep: async (ms) => void waits.push(ms) });

    // Assess
    expect(result).toBe('written');
    expect(waits).toEqual([100, 200, 400, 800]);
  });

  it('stops at the deadline with the last error, and never retries other errors', async () => {
    // Prepare
    const deadline = new AbortController();
    let calls = 0;
    const down = async () => {
      calls++;
      throw new StoreUnavailableError('down', '57P01');
    };

    // Act: the deadline passes during the second wait
    const attempt = untilWritten(down, {
      signal: deadline.signal,
      sleep: async () => {
        if (calls === 2) deadline.abort();
      },
    });

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(calls).toBe(2);
    await expect(
      untilWritten(async () => Promise.reject(new StoreError('bad', '23514'))),
    ).rejects.toBeInstanceOf(StoreError);
  });
});

describe('the standard Retry of every Lambda Task', () => {
  const dir = join(import.meta.dirname, '../../../statemachines');

  /** Every Task state of a definition, nested Map/Parallel branches included. */
  function tasks(states: Record<string, Record<string, unknown>>): [string, Record<string, unknown>][] {
    return Object.entries(states).flatMap(([name, state]) => [
      ...(state.Type === 'Task' ? [[name, state] as [string, Record<string, unknown>]] : []),
      ...(
        (state.Branches as { States: Record<string, Record<string, unknown>> }[] | undefined) ?? []
      ).flatMap((b) => tasks(b.States)),
      ...[state.Iterator, state.ItemProcessor].flatMap((p) =>
        p ? tasks((p as { States: Record<string, Record<string, unknown>> }).States) : [],
      ),
    ]);
  }

  it.each(readdirSync(dir).filter((f) => f.endsWith('.asl.json')))(
    '%s retries StoreUnavailableError',
    (file) => {
      // Prepare
      const definition = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        States: Record<string, Record<string, unknown>>;
      };
      const lambdaTasks = tasks(definition.States).filter(([, s]) =>
        String(s.Resource).includes('lambda:invoke'),
      );

      // Assess
      expect(lambdaTasks.length).toBeGreaterThan(0);
      for (const [name, state] of lambdaTasks) {
        const retry = (state.Retry as { ErrorEquals: string[]; MaxAttempts?: number }[] | undefined) ?? [];
        const store = retry.find((r) => r.ErrorEquals.includes('StoreUnavailableError'));
        expect(store, `${file} ${name}`).toBeDefined();
        expect(store?.MaxAttempts ?? 3, `${file} ${name}`).toBeGreaterThanOrEqual(3);
      }
    },
  );
});
