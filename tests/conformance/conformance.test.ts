import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '#shared/ports/store';
import { openTestStore } from '../helpers/database.ts';
import { type CaseResult, checkCase, discoverCases, formatSummary } from './runner.ts';

/*
 * One test per case file (tests/conformance/cases/**): the case's ASL through the real local engine, compared
 * with what Step Functions does. A case marked `knownDifference` is expected to fail (listed in
 * KNOWN-DIFFERENCES.md); the test turns red when it starts passing, so the mark is removed with the fix.
 */

const cases = discoverCases();
const results: CaseResult[] = [];
let store: Store;
let closeStore: () => Promise<void>;

beforeAll(async () => {
  ({ store, close: closeStore } = await openTestStore());
});
afterAll(async () => {
  console.log(`\nconformance: ${results.length} cases\n${formatSummary(results)}`);
  await closeStore?.();
});

describe('Step Functions conformance', () => {
  it('finds case files', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const entry of cases) {
    const title = `${entry.file}${entry.case ? `: ${entry.case.description}` : ''}`;
    const test = entry.case?.knownDifference ? it.concurrent.fails : it.concurrent;
    test(title, async () => {
      // Prepare (the case file) / Act
      const result = await checkCase(entry, store);
      results.push(result);
      // Assess
      expect(result.mismatch, result.mismatch).toBe('');
    });
  }
});
