import { describe, expect, it } from 'vitest';
import { Admission, type Release } from '../../../infra/local/engine/sandbox/admission.ts';

const slot = (value: Release | string): Release => {
  if (typeof value !== 'function') throw new Error(`not admitted: ${value}`);
  return value;
};

describe('Class: Admission', () => {
  it('admits up to the limit at once and hands freed slots to waiters in arrival order', async () => {
    // Prepare
    const admission = new Admission(2);
    const a = slot(await admission.acquire(1_000));
    const b = slot(await admission.acquire(1_000));
    const order: string[] = [];
    const admitted = (name: string) => (r: Release | string) => {
      order.push(name);
      return slot(r);
    };
    const c = admission.acquire(1_000).then(admitted('c'));
    const d = admission.acquire(1_000).then(admitted('d'));
    expect([admission.running, admission.waiting]).toEqual([2, 2]);

    // Act
    b();
    b(); // a second release gives nothing back twice
    const releaseC = await c;

    // Assess
    expect(order).toEqual(['c']);
    expect([admission.running, admission.waiting]).toEqual([2, 1]);
    a();
    (await d)();
    releaseC();
    expect([admission.running, admission.waiting]).toEqual([0, 0]);
  });

  it('lets a waiter go at its deadline or abort without taking a slot', async () => {
    // Prepare
    const admission = new Admission(1);
    const held = slot(await admission.acquire(1_000));
    const controller = new AbortController();

    // Act
    const timedOut = admission.acquire(30);
    const aborted = admission.acquire(10_000, controller.signal);
    controller.abort();

    // Assess
    expect(await aborted).toBe('abort');
    expect(await timedOut).toBe('timeout');
    expect(admission.waiting).toBe(0);
    held();
    expect(admission.running).toBe(0);
    expect(await admission.acquire(0, AbortSignal.abort())).toBe('abort');
  });

  it('rejects a limit below 1', () => {
    expect(() => new Admission(0)).toThrow(RangeError);
  });
});
