/**
 * local-engine: the embedded runtime's overhead over the bare interpreter.
 * 200 agent-loop runs (3 scripted model calls each) at concurrency 50, with the real handlers writing
 * steps, events and costs to file-backed PGlite — next to aws-local-stepfunctions running the same ASL
 * with no-op tasks that return the same shapes. Also a burst of 50 runs started at once (median of 5), and the same
 * figures with the store on a PostgreSQL server for comparison.
 */
import '../../infra/local/engine/polyfills.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { loadConfig } from '#shared/config';
import { startExecution } from '#shared/executions';
import { createLocalRuntime } from '../../infra/local/engine/runtime.ts';
import { loadWorkflowFile, walkStates } from '../../infra/local/engine/workflows.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { type BenchResult, percentile, report, runPool, target } from './lib.ts';
import { serviceUrls } from './services.ts';

const RUNS = 200;
const CONCURRENCY = 50;
const BURST = 50;
/** Bursts timed (the figure is their median): one burst is about a second, too short for one sample to judge. */
const BURSTS = 5;

/** Median wall time of {@link BURSTS} bursts of {@link BURST} runs started at once. */
async function burstMedian(runOnce: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < BURSTS; i++) {
    const b0 = performance.now();
    await Promise.all(Array.from({ length: BURST }, runOnce));
    times.push(performance.now() - b0);
  }
  return percentile(times, 50);
}

/** The bare interpreter on the same ASL: every Task returns a canned result of the shape its handler returns. */
async function bare(): Promise<{ durations: number[]; wallMs: number; burstMs: number }> {
  const workflow = loadWorkflowFile('statemachines/agent-loop.asl.json');
  const machine = new StateMachine(workflow.definition as never, { validationOptions: { checkArn: false } });
  const tasks: string[] = [];
  walkStates(workflow.definition, (name, state) => {
    if (state.Type === 'Task') tasks.push(name);
  });
  const runOnce = async () => {
    let acts = 0;
    const wrap = (Payload: unknown) => ({ ExecutedVersion: '$LATEST', Payload, StatusCode: 200 });
    const overrides: Record<string, () => Promise<unknown>> = {};
    for (const t of tasks) overrides[t] = async () => wrap({});
    overrides.Plan = async () => wrap({ text: 'plan', messages: [{ role: 'user', content: 'g' }] });
    overrides.Act = async () => {
      acts++;
      return wrap({
        text: 't',
        messages: [],
        directive: { continue: acts < 2, final: acts < 2 ? null : 'done' },
      });
    };
    overrides.Finish = async () => wrap({ output: { ok: true } });
    // The same $$ fields the Tasks read (TASK_CONTEXT_PARAMETERS) as the embedded run gives them.
    const execution = machine.run(
      { goal: 'g' },
      {
        overrides: { taskResourceLocalHandlers: overrides as never },
        context: {
          Execution: { Name: 'bench' },
          StateMachine: { Name: 'agent-loop' },
          State: { Name: 'bench', EnteredTime: new Date().toISOString(), RetryCount: 0 },
        } as never,
      },
    );
    await execution.result;
  };
  await runPool(20, 10, runOnce); // warm-up
  const t0 = performance.now();
  const durations = await runPool(RUNS, CONCURRENCY, runOnce);
  const wallMs = performance.now() - t0;
  return { durations, wallMs, burstMs: await burstMedian(runOnce) };
}

async function embedded(
  databaseUrl?: string,
): Promise<{ durations: number[]; wallMs: number; burstMs: number; bootMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'wflo-bench-'));
  const b = performance.now();
  const local = await createLocalRuntime(
    loadConfig({ ...process.env, WFLO_DATA_DIR: dir, DATABASE_URL: databaseUrl, REDIS_URL: undefined }),
  );
  const bootMs = performance.now() - b;
  const deps = { store: local.runtime.store, engine: local.engine };
  const runOnce = async () => {
    const { execution } = await startExecution(deps, {
      workflow: 'agent-loop',
      input: { goal: 'benchmark' },
    });
    const handle = local.orchestrator.start('agent-loop', execution.id, execution.input);
    const outcome = await handle.done;
    if (outcome.status !== 'succeeded') throw new Error(`run ${execution.id} ended ${outcome.status}`);
  };
  try {
    await runPool(20, 10, runOnce); // warm-up (JIT, PGlite caches)
    const t0 = performance.now();
    const durations = await runPool(RUNS, CONCURRENCY, runOnce);
    const wallMs = performance.now() - t0;
    const burstMs = await burstMedian(runOnce);
    const sample = (await local.runtime.store.listExecutions({ limit: 1 })).items[0]!;
    const steps = await local.runtime.store.listSteps(sample.id);
    if (steps.length !== 4 || sample.costMicros <= 0)
      throw new Error('benchmark run did not do the real work');
    return { durations, wallMs, burstMs, bootMs };
  } finally {
    await local.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  const base = await bare();
  const full = await embedded();
  const ratio = full.wallMs / base.wallMs;
  // The same runs with the store on a PostgreSQL server (when the services script can start one), to show
  // how much of the cost is the embedded store.
  let server: Awaited<ReturnType<typeof embedded>> | undefined;
  try {
    const db = await createTestDatabase(serviceUrls().databaseUrl);
    try {
      server = await embedded(db.url);
    } finally {
      await db.drop();
    }
  } catch (err) {
    console.warn(`local-engine: no PostgreSQL server for the comparison (${(err as Error).message})`);
  }
  return {
    name: 'local-engine',
    figures: {
      runs: RUNS,
      concurrency: CONCURRENCY,
      'embedded p50 per run (ms)': percentile(full.durations, 50),
      'embedded p95 per run (ms)': percentile(full.durations, 95),
      'embedded wall (ms)': full.wallMs,
      'embedded runs/s': (RUNS / full.wallMs) * 1000,
      'bare p50 per run (ms)': percentile(base.durations, 50),
      'bare p95 per run (ms)': percentile(base.durations, 95),
      'bare wall (ms)': base.wallMs,
      'ratio embedded/bare wall': ratio,
      'ratio embedded/bare p50': percentile(full.durations, 50) / percentile(base.durations, 50),
      'burst of 50 embedded (ms)': full.burstMs,
      'burst of 50 bare (ms)': base.burstMs,
      'embedded boot (ms)': full.bootMs,
      ...(server
        ? {
            'with PostgreSQL server: p50 per run (ms)': percentile(server.durations, 50),
            'with PostgreSQL server: wall (ms)': server.wallMs,
            'with PostgreSQL server: ratio to bare wall': server.wallMs / base.wallMs,
            'with PostgreSQL server: burst of 50 (ms)': server.burstMs,
          }
        : {}),
    },
    targets: {
      'ratio embedded/bare wall': target(ratio, 1.5),
      'burst of 50 embedded (ms)': target(full.burstMs, 1000),
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) report(await run());
