import { describe, expect, it } from 'vitest';
import { isResuming, retryWhileResuming } from '#shared/db/resume-retry';

const resuming = () =>
  Object.assign(new Error('The Aurora DB instance wflo-db is resuming after being auto-paused.'), {
    name: 'DatabaseResumingException',
  });

function run(failures: Error[], options: { maxWaitMs?: number } = {}) {
  const slept: number[] = [];
  let calls = 0;
  const next = async () => {
    calls++;
    const failure = failures.shift();
    if (failure) throw failure;
    return { output: { $metadata: {} }, response: {} };
  };
  const handler = retryWhileResuming({ ...options, sleep: async (ms) => void slept.push(ms) })(
    next as never,
    {} as never,
  );
  return { result: handler({ input: {}, request: {} } as never), slept, calls: () => calls };
}

describe('Middleware: retryWhileResuming (RDS Data API)', () => {
  it('sends the statement again while Aurora resumes, backing off, then returns its answer', async () => {
    const r = run([resuming(), resuming(), resuming()]);
    await expect(r.result).resolves.toMatchObject({ output: { $metadata: {} } });
    expect(r.calls()).toBe(4);
    expect(r.slept).toEqual([500, 1000, 2000]);
  });

  it('gives up after its wait budget and surfaces the error', async () => {
    const r = run(Array.from({ length: 20 }, resuming), { maxWaitMs: 3_000 });
    await expect(r.result).rejects.toThrow(/resuming/);
    expect(r.slept).toEqual([500, 1000]);
  });

  it('does not retry any other error: the statement may have run', async () => {
    const r = run([Object.assign(new Error('duplicate key'), { name: 'BadRequestException' })]);
    await expect(r.result).rejects.toThrow('duplicate key');
    expect(r.calls()).toBe(1);
    expect(isResuming(new Error('x'))).toBe(false);
  });
});
