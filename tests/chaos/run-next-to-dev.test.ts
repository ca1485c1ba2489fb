import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ChaosOpenAiServer, chaosMarker } from '../helpers/chaos-openai-server.ts';
import { type AcknowledgedRun, type DevProcess, devEnv, startDev } from './harness.ts';
import { pgliteQuery } from './invariants.ts';
import { assessAndRecord, freshDataDir } from './scenario.ts';

/**
 * `wflo run` three times in another terminal while `wflo dev` serves the same PGlite data directory (as
 * the README suggests): each run must be in the store once both processes have exited.
 */
let server: ChaosOpenAiServer | undefined;
const processes: DevProcess[] = [];
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill9()));
  await server?.stop();
});

describe('Chaos: wflo run next to wflo dev on one data directory', () => {
  it('every run wflo run reported is in the store afterwards, whole', async () => {
    // Prepare
    server = new ChaosOpenAiServer({ delayMs: 100 });
    await server.start();
    const dataDir = freshDataDir('run-next-to-dev');
    const env = devEnv({ dataDir, openAiUrl: server.url });
    const dev = await startDev(env);
    processes.push(dev);

    // Act: three `wflo run` at once, as a user would in other terminals
    const outputs = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const marker = `run-cli-${i}`;
        const input = JSON.stringify({ goal: `${chaosMarker(marker)} greet the team`, maxIterations: 2 });
        const { stdout } = await promisify(execFile)(
          process.execPath,
          ['infra/local/bin/wflo.mjs', 'run', 'agent-loop', '--input', input, '--budget', '0.05', '--json'],
          { env, timeout: 180_000 },
        );
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
          executionId: string;
          status: string;
        };
        return { marker, ...result };
      }),
    );
    await dev.stop();

    // Assess: what each command printed, then the store after both processes have exited
    expect(outputs.map((o) => o.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const runs: AcknowledgedRun[] = outputs.map((o) => ({ executionId: o.executionId, marker: o.marker }));
    const db = await pgliteQuery(dataDir);
    try {
      await assessAndRecord('wflo-run-next-to-dev', db.query, runs, server);
    } finally {
      await db.close();
    }
  });
});
