/**
 * The workflows that run code (code-execution, the agent loop's RUN tool) end to end in real bubblewrap:
 * the real ASL, the real handlers, the local `ecs:runTask.sync` over the local sandbox. Needs bubblewrap,
 * prlimit and python3 (tests/security/install-sandbox-deps.sh); refuses to pass without them.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifacts } from '#local/engine/adapters/local-artifacts';
import { DEFAULT_HOST_UID, LocalSandbox } from '#local/engine/sandbox/local-sandbox';
import { startExecution } from '#shared/executions';
import {
  ECS_RUN_TASK_SYNC,
  ecsRunTaskIntegration,
} from '../../infra/local/engine/integrations/ecs-run-task.ts';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { startLocal, stopLocal } from '../helpers/local.ts';
import { sandboxProcesses, waitFor } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
// Its own host uid, so another file's sandboxes never count as this file's leftovers.
const HOST_UID = DEFAULT_HOST_UID + 21;
const uidToWatch = isRoot ? HOST_UID : process.getuid!();

let local: LocalRuntime;
let sandbox: LocalSandbox;
let workRoot: string;
let artifactsDir: string;
let server: Server;
let port: number;

beforeAll(async () => {
  workRoot = await mkdtemp(join(tmpdir(), 'wflo-security-wf-'));
  artifactsDir = await mkdtemp(join(tmpdir(), 'wflo-security-artifacts-'));
  sandbox = new LocalSandbox({ workRoot, hostUid: HOST_UID });
  const artifacts = new LocalArtifacts(artifactsDir);
  local = await startLocal(
    { WFLO_ARTIFACTS_DIR: artifactsDir, LLM_SCRIPT_FILE: 'tests/fixtures/scripts/code-agent.json' },
    new Map([
      [
        ECS_RUN_TASK_SYNC,
        ecsRunTaskIntegration({
          sandbox,
          filePath: (url) => artifacts.pathOf(url),
          taskSize: { cpu: 512, memoryMiB: 1024 },
        }),
      ],
    ]),
  );
  // A service on the host's loopback the program must not reach.
  server = createServer((socket) => socket.end('secret\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  // Opening PGlite takes 30 s and more on a loaded 2-core machine (see DATABASE in vitest.config.ts).
}, 240_000);

afterAll(async () => {
  await stopLocal(local);
  await new Promise((resolve) => server.close(resolve));
  await rm(workRoot, { recursive: true, force: true });
  await rm(artifactsDir, { recursive: true, force: true });
});

afterEach(async () => {
  // Nothing of any run is left: no process in a sandbox, no run directory.
  expect(sandboxProcesses(uidToWatch)).toEqual([]);
  expect(await readdir(workRoot)).toEqual([]);
});

async function run(workflow: string, input: Record<string, unknown>) {
  const { execution } = await startExecution(
    { store: local.runtime.store, engine: local.engine },
    { workflow, input, budgetMicros: null },
  );
  await local.orchestrator.drain();
  const store = local.runtime.store;
  return {
    execution: (await store.getExecution(execution.id))!,
    events: await store.listEvents(execution.id, 0, 1000),
  };
}

describe('Workflows that run code, in bubblewrap', () => {
  it('runs them in bubblewrap here (tests/security/install-sandbox-deps.sh installs it)', () => {
    expect(sandbox.mode().kind).toBe('bubblewrap');
  });

  it('code-execution: the program cannot read the artifacts or the project, reach host loopback, or see wflo env', async () => {
    // Prepare
    const code = [
      'import json, os, socket',
      'out = {}',
      `for name, path in [("artifacts", ${JSON.stringify(artifactsDir)}), ("project", ${JSON.stringify(join(process.cwd(), 'package.json'))})]:`,
      '    try:',
      '        out[name] = "LISTED " + str(os.listdir(path)) if os.path.isdir(path) else "READ " + open(path).read(40)',
      '    except Exception as e:',
      '        out[name] = type(e).__name__',
      's = socket.socket()',
      's.settimeout(2)',
      'try:',
      `    s.connect(("127.0.0.1", ${port}))`,
      '    out["net"] = "CONNECTED " + s.recv(20).decode()',
      'except Exception as e:',
      '    out["net"] = type(e).__name__',
      'out["env"] = sorted(os.environ)',
      'print(json.dumps(out))',
    ].join('\n');

    // Act
    const { execution } = await run('code-execution', { language: 'python', code, timeoutSeconds: 10 });

    // Assess
    expect(execution.status).toBe('succeeded');
    const seen = JSON.parse((execution.output as { stdout: string }).stdout) as Record<string, unknown>;
    // Masked paths are empty directories (or gone): nothing of the host's files is there.
    expect(seen.artifacts === 'LISTED []' || seen.artifacts === 'FileNotFoundError').toBe(true);
    expect(seen.project).toMatch(/^(FileNotFoundError|PermissionError)$/);
    expect(seen.net).toMatch(/^(ConnectionRefusedError|OSError|TimeoutError)$/);
    expect(seen.env).toEqual(['HOME', 'LANG', 'LC_ALL', 'PATH', 'PWD', 'TMPDIR']);
  });

  it('code-execution: a program past its timeout is killed inside the sandbox; the run fails with SandboxTimeoutError', async () => {
    const { execution } = await run('code-execution', {
      language: 'python',
      code: 'import os\nos.fork()\nwhile True:\n    pass',
      timeoutSeconds: 1,
    });
    expect(execution.status).toBe('failed');
    expect(execution.error).toMatchObject({ error: 'SandboxTimeoutError' });
  });

  it('code-execution: cancelling the execution kills the program and everything it started', async () => {
    // Prepare
    const { execution } = await startExecution(
      { store: local.runtime.store, engine: local.engine },
      {
        workflow: 'code-execution',
        input: {
          language: 'python',
          code: 'import os, time\nos.fork()\nos.fork()\ntime.sleep(60)',
          timeoutSeconds: 120,
        },
      },
    );
    await waitFor(() => sandboxProcesses(uidToWatch).length >= 4, 10_000);

    // Act
    local.orchestrator.cancel(execution.id);
    await local.orchestrator.drain();

    // Assess
    expect((await local.runtime.store.getExecution(execution.id))?.status).toBe('cancelled');
    await waitFor(() => sandboxProcesses(uidToWatch).length === 0, 5_000);
    // The integration finished its cleanup (run directory removed) before afterEach looks.
    for (let i = 0; i < 100 && (await readdir(workRoot)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('agent-loop: the model asks to run Python and answers from its real output', async () => {
    const { execution, events } = await run('agent-loop', {
      goal: 'sum of 0..9',
      model: { provider: 'scripted', name: 'code-agent' },
    });
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ answer: '45', iterations: 2 });
    expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
      exitCode: 0,
      stdout: '45\n',
    });
  });
});
