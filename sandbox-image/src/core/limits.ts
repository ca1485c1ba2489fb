import type { SandboxCodeRequest, SandboxLanguage, SandboxLimits } from '../contract.ts';

/** Limits out of range; the local sandbox turns it into a `ValidationError`, the runner into a config error. */
export class InvalidLimitsError extends Error {
  override name = 'InvalidLimitsError';
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid sandbox limits: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Longest wall-clock limit a run may ask for (the Lambda-free Fargate path could go longer; we don't). */
export const MAX_TIMEOUT_MS = 15 * 60_000;
export const MIN_TIMEOUT_MS = 100;

/** Largest program accepted, in bytes of UTF-8 (also the cap when the runner decompresses inline code). */
export const MAX_CODE_BYTES = 1024 * 1024;

/**
 * Defaults for every limit but `cpuSeconds`, which follows the timeout (see `resolveLimits`).
 * Chosen so one run cannot hurt a laptop: 64 KiB of each stream fits a Step Functions payload twice
 * over, and `maxProcesses × memoryBytes` bounds the worst case of a forking memory bomb.
 */
export const DEFAULT_LIMITS: Omit<SandboxLimits, 'cpuSeconds'> = {
  memoryBytes: 512 * MiB,
  maxProcesses: 32,
  maxFileBytes: 16 * MiB,
  tmpBytes: 64 * MiB,
  maxOutputBytes: 64 * KiB,
};

/**
 * V8 reserves address space far beyond what it uses (node does not start under ~800 MiB of
 * RLIMIT_AS), so for JavaScript the heap is capped with `--max-old-space-size` and the address-space
 * limit gets this much headroom on top.
 */
export const JS_ADDRESS_SPACE_HEADROOM = 1 * GiB;

/** Node starts 7 threads before running a line (and the sandbox's init counts too): below this it hangs. */
const MIN_PROCESSES: Record<SandboxLanguage, number> = { python: 2, javascript: 16 };

interface Bound {
  readonly min: number;
  readonly max: number;
}

const BOUNDS: Record<keyof SandboxLimits, Bound> = {
  cpuSeconds: { min: 1, max: MAX_TIMEOUT_MS / 1000 + 1 },
  memoryBytes: { min: 32 * MiB, max: 16 * GiB },
  maxProcesses: { min: 2, max: 4096 },
  maxFileBytes: { min: 0, max: 4 * GiB },
  tmpBytes: { min: 1 * MiB, max: 4 * GiB },
  maxOutputBytes: { min: 1 * KiB, max: 8 * MiB },
};

/**
 * Fills in defaults and checks every limit against its bounds.
 * @throws InvalidLimitsError naming each field out of range.
 */
export function resolveLimits(
  request: Pick<SandboxCodeRequest, 'language' | 'timeoutMs' | 'limits'>,
): SandboxLimits {
  const issues: string[] = [];
  const { timeoutMs } = request;
  if (!Number.isInteger(timeoutMs) || timeoutMs < MIN_TIMEOUT_MS || timeoutMs > MAX_TIMEOUT_MS) {
    issues.push(`timeoutMs: must be an integer from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}`);
  }
  const given = request.limits ?? {};
  const limits: SandboxLimits = {
    ...DEFAULT_LIMITS,
    // A CPU-time backstop just above the wall clock: it only matters if the wall-clock kill fails.
    cpuSeconds: Math.ceil(Math.max(timeoutMs, MIN_TIMEOUT_MS) / 1000) + 1,
    ...Object.fromEntries(Object.entries(given).filter(([k, v]) => k in BOUNDS && v !== undefined)),
  };
  for (const [key, bound] of Object.entries(BOUNDS) as [keyof SandboxLimits, Bound][]) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value < bound.min || value > bound.max) {
      issues.push(`limits.${key}: must be an integer from ${bound.min} to ${bound.max}`);
    }
  }
  const minProcesses = MIN_PROCESSES[request.language];
  if (limits.maxProcesses < minProcesses) {
    issues.push(`limits.maxProcesses: ${request.language} needs at least ${minProcesses}`);
  }
  if (issues.length > 0) throw new InvalidLimitsError(issues);
  return limits;
}

/** The RLIMIT_AS value for a language: the memory limit, plus V8's reservation headroom for JavaScript. */
export function addressSpaceLimit(language: SandboxLanguage, limits: SandboxLimits): number {
  return language === 'javascript' ? limits.memoryBytes + JS_ADDRESS_SPACE_HEADROOM : limits.memoryBytes;
}
