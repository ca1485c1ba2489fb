import type { Reporter } from 'vitest/node';

/**
 * Prints how long the whole run took, from the start of the process (config loading and worker start-up
 * included), so `npm test` reports its wall time on every run, on a laptop or in CI.
 */
export default class WallTimeReporter implements Reporter {
  onTestRunEnd(): void {
    console.log(`\nwall time: ${process.uptime().toFixed(1)} s (npm test, from process start)`);
  }
}
