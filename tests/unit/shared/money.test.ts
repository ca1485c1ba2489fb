import { describe, expect, it } from 'vitest';
import { formatMicros, microsToUsd, usdToMicros } from '#shared/money';

describe('Function: usdToMicros', () => {
  it.each([
    [0, 0],
    [0.5, 500_000],
    [0.1, 100_000],
    [1.000001, 1_000_001],
    ['12.34', 12_340_000],
    ['0.000001', 1],
    [0.3 - 0.2, 100_000], // binary float noise below a micro-dollar is not a 7th decimal the caller meant
  ])('converts %s exactly to %i µ$', (usd, micros) => {
    expect(usdToMicros(usd)).toBe(micros);
  });

  it.each([
    [-1],
    ['-0.5'],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    ['1e3'],
    ['abc'],
    ['0.0000001'],
    [1e-7],
  ])('rejects %s', (usd) => {
    expect(() => usdToMicros(usd)).toThrow(RangeError);
  });
});

describe('Function: formatMicros', () => {
  it('formats with six decimals and a sign', () => {
    expect(formatMicros(0)).toBe('0.000000');
    expect(formatMicros(1_234_567)).toBe('1.234567');
    expect(formatMicros(-15)).toBe('-0.000015');
  });

  it('round-trips with usdToMicros', () => {
    for (const m of [0, 1, 999_999, 1_000_000, 123_456_789]) expect(usdToMicros(formatMicros(m))).toBe(m);
    expect(microsToUsd(250_000)).toBe(0.25);
  });
});
