import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A benchmark's result: raw figures plus the targets it is held to. */
export interface BenchResult {
  readonly name: string;
  readonly figures: Record<string, number>;
  readonly targets: Record<string, { value: number; max: number; ok: boolean }>;
  readonly notes?: string[];
}

export const RESULTS_DIR = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'results');

/** The p-th percentile (0-100) by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export function target(value: number, max: number) {
  return { value: Math.round(value * 1000) / 1000, max, ok: value <= max };
}

/** Runs `count` async jobs with at most `concurrency` in flight; returns each job's duration (ms). */
export async function runPool(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<void>,
): Promise<number[]> {
  const durations: number[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t0 = performance.now();
      await job(i);
      durations[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return durations;
}

/** Prints a result as a table and writes it to tests/bench/results/<name>.json. */
export function report(result: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${result.name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ ...result, at: new Date().toISOString(), node: process.version }, null, 2)}\n`,
  );
  console.log(`\n## ${result.name}`);
  for (const [k, v] of Object.entries(result.figures))
    console.log(`  ${k.padEnd(40)} ${Number.isInteger(v) ? v : v.toFixed(2)}`);
  for (const [k, t] of Object.entries(result.targets)) {
    console.log(`  target ${k.padEnd(33)} ${t.value} ≤ ${t.max}  ${t.ok ? 'OK' : 'MISSED'}`);
  }
  for (const n of result.notes ?? []) console.log(`  note: ${n}`);
  console.log(`  → ${file}`);
}
