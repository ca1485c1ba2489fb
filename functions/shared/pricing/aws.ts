import type { Micros } from '../money.ts';

/**
 * AWS list prices (us-east-1, 2026-11) for the compute wflo records in the ledger besides tokens.
 * Held as integer nano-dollars (1e-9 USD) per unit so the arithmetic is exact; each charge is rounded up
 * once to a whole micro-dollar, so the ledger never under-reports.
 */
export const AWS_PRICES = {
  /** Lambda on arm64: $0.0000133334 per GB-second. */
  lambdaNanoUsdPerGbSecond: 13_333.4,
  /** Lambda requests: $0.20 per million. */
  lambdaNanoUsdPerRequest: 200,
  /** Step Functions Standard: $0.025 per 1,000 state transitions. */
  transitionNanoUsd: 25_000,
  /** Fargate Linux/ARM: $0.03238 per vCPU-hour and $0.00356 per GB-hour. */
  fargateNanoUsdPerVcpuSecond: 8_994.4,
  fargateNanoUsdPerGbSecond: 988.9,
} as const;

const ceilMicros = (nanoUsd: number): Micros => Math.ceil(Math.round(nanoUsd) / 1000);

/** One Lambda invocation: memory × billed duration (1 ms granularity) plus the request charge. */
export function lambdaComputeMicros(memoryMb: number, durationMs: number): Micros {
  const gbSeconds = (memoryMb / 1024) * (Math.ceil(Math.max(1, durationMs)) / 1000);
  return ceilMicros(gbSeconds * AWS_PRICES.lambdaNanoUsdPerGbSecond + AWS_PRICES.lambdaNanoUsdPerRequest);
}

/** Step Functions Standard transitions. */
export function transitionsMicros(transitions: number): Micros {
  return ceilMicros(transitions * AWS_PRICES.transitionNanoUsd);
}

/** A Fargate task: vCPU-seconds and GB-seconds (Fargate bills per second, one-minute minimum). */
export function fargateMicros(vcpu: number, memoryGb: number, durationMs: number): Micros {
  const seconds = Math.max(60, Math.ceil(durationMs / 1000));
  return ceilMicros(
    seconds *
      (vcpu * AWS_PRICES.fargateNanoUsdPerVcpuSecond + memoryGb * AWS_PRICES.fargateNanoUsdPerGbSecond),
  );
}
