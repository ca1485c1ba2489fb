/**
 * Money is integer micro-dollars (1 USD = 1,000,000 µ$) everywhere inside wflo. Floats appear only at the
 * edges (API/CLI), converted here, exactly.
 */
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/**
 * Parses a USD amount given as a number or decimal string into micro-dollars, exactly.
 * Rejects negatives, non-finite values and more than 6 decimal places.
 * @example usdToMicros(0.25) // 250000
 */
export function usdToMicros(usd: number | string): Micros {
  const text = typeof usd === 'number' ? numberToPlainString(usd) : usd.trim();
  const match = /^(\d+)(?:\.(\d{1,6})\d*)?$/.exec(text);
  if (!match) throw new RangeError(`not a non-negative USD amount with at most 6 decimals: ${text}`);
  const [, whole, frac = ''] = match;
  const rest = text.split('.')[1]?.slice(6) ?? '';
  if (/[1-9]/.test(rest))
    throw new RangeError(`more than 6 decimal places (micro-dollar precision): ${text}`);
  const micros = BigInt(whole!) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
  if (micros > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`amount too large: ${text}`);
  return Number(micros);
}

function numberToPlainString(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  // toFixed(7) avoids exponent notation for small values; the 7th digit exposes sub-micro precision.
  const fixed = n.toFixed(7).replace(/0+$/, '').replace(/\.$/, '');
  return fixed;
}

/** Formats micro-dollars as a USD decimal string with 6 places, e.g. `0.000150`. */
export function formatMicros(micros: Micros): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, '0');
  return `${sign}${whole}.${frac}`;
}

/** Micro-dollars as a JS number of dollars, for JSON output only (display, not arithmetic). */
export function microsToUsd(micros: Micros): number {
  return micros / MICROS_PER_USD;
}
