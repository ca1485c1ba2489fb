import { createHash } from 'node:crypto';

/**
 * The helpers the intrinsic functions (States.ArrayPartition, ArrayRange, Hash, MathRandom) and their JSONata
 * counterparts ($partition, $range, $hash, $random) share: one definition of each rule and limit. Each returns
 * undefined (or throws nothing) for bad input so the caller raises its own error name.
 */

/** The hash algorithms Step Functions accepts, by the name it uses, to node:crypto's name. */
const HASHES: Readonly<Record<string, string>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

/** The algorithm names, for error messages. */
export const HASH_ALGORITHMS = Object.keys(HASHES).join(', ');

/** Step Functions' limit on the items of States.ArrayRange / $range. */
export const MAX_RANGE = 1000;

/** The hex digest of `text` with a Step Functions algorithm name, or undefined for an unknown algorithm. */
export function hashHex(text: string, algorithm: unknown): string | undefined {
  const alg = typeof algorithm === 'string' ? HASHES[algorithm] : undefined;
  return alg ? createHash(alg).update(text, 'utf8').digest('hex') : undefined;
}

/** A number in [0, 1) from a seed (mulberry32): same seed, same number, on every run and replay. */
export function seededRandom(seed: number): number {
  let t = (Math.trunc(seed) + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** The array cut into chunks of `size` (a positive integer); the last chunk may be shorter. */
export function partition(array: readonly unknown[], size: number): unknown[][] {
  const chunks: unknown[][] = [];
  for (let i = 0; i < array.length; i += size) chunks.push(array.slice(i, i + size));
  return chunks;
}

/** How many items start..end (inclusive) by `step` has; 0 when the step walks away from the end. */
export function rangeCount(start: number, end: number, step: number): number {
  return (end - start) / step < 0 ? 0 : Math.floor((end - start) / step) + 1;
}

/** start..end inclusive by `step` (`count` from rangeCount). */
export function range(start: number, step: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i * step);
}
