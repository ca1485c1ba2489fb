import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Test projects (run one with `--project <name>`):
 * - unit: pure logic, no network, no database server
 * - statemachines: the real ASL files with the real handlers through the local orchestrator (PGlite)
 * - api: the API app over HTTP against the local server (PGlite)
 * - store: the store port's contract (PGlite here; PostgreSQL in integration)
 * - providers: LLM provider adapters over HTTP against local protocol-speaking servers
 * - infra: CDK template assertions, cdk-nag, ASL validation
 * - security: the sandbox escape suite (needs bubblewrap)
 * - integration: real PostgreSQL/Redis/Kafka on loopback, started by tests/integration/run.sh
 */
export default defineConfig({
  test: {
    root,
    env: { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_DEV: 'false' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'statemachines',
          include: ['tests/statemachines/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        // startLocal (PGlite + migrations) takes 10-12 s on 2 shared cores, at the default 10 s hook limit.
        test: { name: 'api', include: ['tests/api/**/*.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: 'store',
          include: ['tests/store/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'providers',
          include: ['tests/providers/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['tests/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: { name: 'security', include: ['tests/security/**/*.test.ts'], testTimeout: 60_000 },
      },
      {
        extends: true,
        // The same state-machine, API and provider suites again, on PostgreSQL instead of PGlite, plus the
        // adapter suites that need a real server.
        test: {
          name: 'integration',
          include: [
            'tests/integration/**/*.test.ts',
            'tests/store/**/*.test.ts',
            'tests/statemachines/**/*.test.ts',
            'tests/api/**/*.test.ts',
            'tests/providers/**/*.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
