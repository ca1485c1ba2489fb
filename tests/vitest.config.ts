import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Test projects (run one with `--project <name>`):
 * - unit: pure logic, no network, no database server
 * - conformance: small ASL cases with Step Functions' documented/recorded results, through the local engine
 * - statemachines: the real ASL files with the real handlers through the local orchestrator (PGlite)
 * - api: the API app over HTTP against the local server (PGlite)
 * - store: the store port's contract (PGlite here; PostgreSQL in integration)
 * - providers: LLM provider adapters over HTTP against local protocol-speaking servers
 * - infra: CDK template assertions, cdk-nag, ASL validation
 * - security: the sandbox escape suite (needs bubblewrap)
 * - deployed: smoke tests against a deployed stack, only when WFLO_API_URL is set (`npm run test:deployed`)
 * - integration: real PostgreSQL/Redis/Kafka on loopback, started by tests/integration/run.sh
 * - chaos: kill -9, database and cache outages, a failing model provider, against real `wflo dev` processes
 *   (`npm run test:chaos`; its global setup starts PostgreSQL and Redis on ports of its own)
 */
/**
 * Suites whose hooks open a database (PGlite starts in 1.5–3 s idle, 30 s and more at load average 10 on
 * 2 cores) or start servers: vitest's default 10 s hook timeout fails them on a busy machine, so they get
 * minutes, and their tests room for the same slowness.
 */
const DATABASE = { testTimeout: 90_000, hookTimeout: 240_000 } as const;

export default defineConfig({
  test: {
    root,
    // `default` plus the wall time of the whole run, printed at the end.
    reporters: ['default', './tests/wall-time-reporter.ts'],
    env: { POWERTOOLS_METRICS_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_DEV: 'false' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['tests/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'statemachines', include: ['tests/statemachines/**/*.test.ts'], ...DATABASE },
      },
      {
        extends: true,
        // ASL cases with what Step Functions does (tests/conformance/cases/**), through the local engine.
        test: {
          name: 'conformance',
          include: ['tests/conformance/**/*.test.ts'],
          maxConcurrency: 8,
          ...DATABASE,
        },
      },
      { extends: true, test: { name: 'api', include: ['tests/api/**/*.test.ts'], ...DATABASE } },
      { extends: true, test: { name: 'store', include: ['tests/store/**/*.test.ts'], ...DATABASE } },
      {
        extends: true,
        test: { name: 'providers', include: ['tests/providers/**/*.test.ts'], ...DATABASE },
      },
      {
        extends: true,
        test: {
          name: 'infra',
          include: ['tests/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Files share a worker's modules, so the app that most of them assert on is synthesized once per
          // worker (tests/infra/app-fixture.ts), not once per file: synthesis is the slow part (~25 s).
          isolate: false,
        },
      },
      {
        extends: true,
        // Its workflow suite opens the embedded runtime (PGlite) in its hooks.
        test: { name: 'security', include: ['tests/security/**/*.test.ts'], ...DATABASE },
      },
      {
        extends: true,
        // A real Apache Kafka broker on loopback (tests/integration/kafka.sh); `npm run test:kafka` starts it.
        // One file at a time: the broker-outage file stops the broker the others use; each file has its own runtime.
        test: { name: 'kafka', include: ['tests/kafka/**/*.test.ts'], fileParallelism: false, ...DATABASE },
      },
      {
        extends: true,
        // Opt-in, not in `npm test`: a deployed stack, reached at WFLO_API_URL (skipped without it).
        test: { name: 'deployed', include: ['tests/deployed/**/*.test.ts'], testTimeout: 360_000 },
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
          ...DATABASE,
        },
      },
      {
        extends: true,
        // Opt-in, not in `npm test`: real processes killed and services stopped under them. One scenario at a
        // time (they restart the same PostgreSQL and Redis); each is bounded well inside its timeout.
        test: {
          name: 'chaos',
          include: ['tests/chaos/**/*.test.ts'],
          globalSetup: ['tests/chaos/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 420_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
