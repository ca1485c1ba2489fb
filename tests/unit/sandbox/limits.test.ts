import { describe, expect, it } from 'vitest';
import {
  addressSpaceLimit,
  DEFAULT_LIMITS,
  InvalidLimitsError,
  JS_ADDRESS_SPACE_HEADROOM,
  resolveLimits,
} from '../../../sandbox-image/src/core/limits.ts';

describe('Function: resolveLimits', () => {
  it('fills every default and derives the CPU backstop from the timeout', () => {
    // Act
    const limits = resolveLimits({ language: 'python', timeoutMs: 2_500 });

    // Assess
    expect(limits).toEqual({ ...DEFAULT_LIMITS, cpuSeconds: 4 });
  });

  it('lets a request override a limit', () => {
    const limits = resolveLimits({
      language: 'python',
      timeoutMs: 1_000,
      limits: { memoryBytes: 64 * 1024 * 1024, maxProcesses: 4 },
    });
    expect(limits.memoryBytes).toBe(64 * 1024 * 1024);
    expect(limits.maxProcesses).toBe(4);
    expect(limits.maxOutputBytes).toBe(DEFAULT_LIMITS.maxOutputBytes);
  });

  it('ignores undefined overrides and unknown keys', () => {
    const limits = resolveLimits({
      language: 'python',
      timeoutMs: 1_000,
      limits: { memoryBytes: undefined, bogus: 1 } as never,
    });
    expect(limits.memoryBytes).toBe(DEFAULT_LIMITS.memoryBytes);
    expect(limits).not.toHaveProperty('bogus');
  });

  it('names every field out of range', () => {
    // Act
    const act = () =>
      resolveLimits({
        language: 'python',
        timeoutMs: 10,
        limits: { memoryBytes: 1, maxOutputBytes: 1.5, maxFileBytes: -1 },
      });

    // Assess
    expect(act).toThrow(InvalidLimitsError);
    try {
      act();
    } catch (error) {
      expect((error as InvalidLimitsError).issues).toEqual([
        expect.stringMatching(/^timeoutMs/),
        expect.stringMatching(/^limits\.memoryBytes/),
        expect.stringMatching(/^limits\.maxFileBytes/),
        expect.stringMatching(/^limits\.maxOutputBytes/),
      ]);
    }
  });

  it('refuses a process limit JavaScript cannot start under (Node needs its threads)', () => {
    expect(() =>
      resolveLimits({ language: 'javascript', timeoutMs: 1_000, limits: { maxProcesses: 8 } }),
    ).toThrow(/javascript needs at least 16/);
    expect(
      resolveLimits({ language: 'python', timeoutMs: 1_000, limits: { maxProcesses: 8 } }).maxProcesses,
    ).toBe(8);
  });
});

describe('Function: addressSpaceLimit', () => {
  it('is the memory limit for Python and adds V8 reservation headroom for JavaScript', () => {
    const limits = resolveLimits({ language: 'javascript', timeoutMs: 1_000 });
    expect(addressSpaceLimit('python', limits)).toBe(limits.memoryBytes);
    expect(addressSpaceLimit('javascript', limits)).toBe(limits.memoryBytes + JS_ADDRESS_SPACE_HEADROOM);
  });
});
