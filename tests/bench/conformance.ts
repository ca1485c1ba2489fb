import { discoverCases, formatSummary, runAll, summarize } from '../conformance/runner.ts';
import { openTestStore } from '../helpers/database.ts';
import type { BenchResult } from './lib.ts';

/*
 * `npm run bench -- conformance`: every case of tests/conformance/cases through the local engine, as the
 * conformance test project runs them: pass rate by feature and the whole suite's runtime. A case marked
 * `knownDifference` counts as failed here (it is what the engine gets wrong); CONFORMANCE_FILTER=<substring>
 * runs only the case files whose path contains it.
 */

/** Cases run side by side (they share one in-memory store). */
const CONCURRENCY = Number(process.env.CONFORMANCE_CONCURRENCY ?? 8);

export async function run(): Promise<BenchResult> {
  const filter = process.env.CONFORMANCE_FILTER;
  const cases = discoverCases().filter((c) => !filter || c.file.includes(filter));
  const { store, close } = await openTestStore();
  try {
    const t0 = performance.now();
    const results = await runAll(store, CONCURRENCY, cases);
    const wallMs = performance.now() - t0;
    console.log(
      `\nconformance: ${results.length} cases in ${(wallMs / 1000).toFixed(1)} s\n${formatSummary(results)}`,
    );
    const failures = results.filter((r) => !r.passed);
    for (const f of failures) {
      console.log(
        `  ${f.knownDifference ? 'known' : 'FAIL '} ${f.file}: ${f.mismatch.replaceAll('\n', '\n      ')}`,
      );
    }
    const figures: Record<string, number> = {
      cases: results.length,
      passed: results.length - failures.length,
      failed: failures.length,
      'known differences': failures.filter((f) => f.knownDifference).length,
      'pass rate (%)': (100 * (results.length - failures.length)) / Math.max(1, results.length),
      'suite runtime (ms)': wallMs,
      'slowest case (ms)': Math.max(0, ...results.map((r) => r.ms)),
    };
    for (const [feature, f] of summarize(results)) {
      figures[`${feature} pass rate (%)`] = (100 * f.passed) / f.run;
    }
    const unexpected = failures.filter((f) => !f.knownDifference).length;
    return {
      name: 'conformance',
      figures,
      targets: {
        'failures not listed as known differences': { value: unexpected, max: 0, ok: unexpected === 0 },
      },
      notes: ['known differences and their reasons: tests/conformance/KNOWN-DIFFERENCES.md'],
    };
  } finally {
    await close();
  }
}
