/**
 * Local sandbox round trip for a trivial Python program, p50 over 50 runs, next to bare `python3 -c`
 * in the same run (interleaved, so both see the same machine state). Target: under 100 ms of overhead.
 * `npx tsx tests/bench/sandbox.ts` runs it alone; `npm run bench -- sandbox` through the bench runner.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LocalSandbox } from '../../infra/local/engine/sandbox/local-sandbox.ts';
import { type BenchResult, percentile, report, target } from './lib.ts';

const exec = promisify(execFile);
const RUNS = 50;
const WARMUP = 5;
const CODE = 'print(1)';

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function run(): Promise<BenchResult> {
  const sandbox = new LocalSandbox();
  const mode = sandbox.mode();
  const python = mode.interpreters.python;
  const bare = () => exec(python, ['-c', CODE], { env: {} });
  const boxed = async () => {
    const result = await sandbox.run({ language: 'python', code: CODE, timeoutMs: 10_000 });
    if (result.exitCode !== 0 || result.stdout !== '1\n') {
      throw new Error(`sandbox run failed: ${JSON.stringify(result)}`);
    }
  };

  for (let i = 0; i < WARMUP; i++) {
    await bare();
    await boxed();
  }
  const bareMs: number[] = [];
  const boxedMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bareMs.push(await timed(bare));
    boxedMs.push(await timed(boxed));
  }

  const bareP50 = percentile(bareMs, 50);
  const boxedP50 = percentile(boxedMs, 50);
  const overhead = boxedP50 - bareP50;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    name: 'sandbox',
    figures: {
      runs: RUNS,
      bare_python_p50_ms: round(bareP50),
      bare_python_p90_ms: round(percentile(bareMs, 90)),
      sandbox_python_p50_ms: round(boxedP50),
      sandbox_python_p90_ms: round(percentile(boxedMs, 90)),
      overhead_p50_ms: round(overhead),
      ratio_p50: Math.round((boxedP50 / bareP50) * 100) / 100,
    },
    targets: { overhead_p50_ms: target(overhead, 100) },
    notes: [
      mode.kind === 'bubblewrap'
        ? `bubblewrap ${mode.bwrapPath} (size: ${mode.features.size}, disable-userns: ${mode.features.disableUserns})`
        : 'UNSAFE mode (no bubblewrap): the figures do not measure the sandbox',
      `python: ${python}; round trip = per-run directory, bwrap + prlimit + python, result shaping, cleanup`,
    ],
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  report(await run());
}
