import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { startLocalServer } from '../../infra/local/cli/server.ts';
import { createLocalRuntime, type LocalRuntime } from '../../infra/local/engine/runtime.ts';
import type { WorkflowChange } from '../../infra/local/engine/workflow-change.ts';
import { TEST_SCRIPT } from '../helpers/local.ts';

/**
 * `wflo dev` serves statemachines/ as it changes: the same runtime and server the dev command builds, over a
 * real temporary folder, with the real file-system watcher. No sleeps: each step waits for the watcher to
 * report the change (bounded), then asks the API.
 */
const HELLO = readFileSync('statemachines/hello.asl.json', 'utf8');
const WAIT_MS = 30_000;

let dir: string;
let local: LocalRuntime;
let server: Awaited<ReturnType<typeof startLocalServer>>;
const changes: WorkflowChange[] = [];
const waiters: { match: (c: WorkflowChange) => boolean; resolve: (c: WorkflowChange) => void }[] = [];

function onChange(change: WorkflowChange) {
  changes.push(change);
  for (const w of waiters.filter((w) => w.match(change))) {
    waiters.splice(waiters.indexOf(w), 1);
    w.resolve(change);
  }
}

/** The first change after `from` that matches, or a failure naming what was seen after {@link WAIT_MS}. */
function changeAfter(from: number, match: (c: WorkflowChange) => boolean): Promise<WorkflowChange> {
  const already = changes.slice(from).find(match);
  if (already) return Promise.resolve(already);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `no matching workflow change in ${WAIT_MS} ms; saw ${JSON.stringify(changes.slice(from))}`,
          ),
        ),
      WAIT_MS,
    );
    waiters.push({
      match,
      resolve: (c) => {
        clearTimeout(timer);
        resolve(c);
      },
    });
  });
}

async function start(workflow: string, name: string) {
  const res = await fetch(`${server.url}/workflows/${workflow}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { name } }),
  });
  return { status: res.status, body: (await res.json()) as { executionId?: string } };
}

async function finalStatus(executionId: string): Promise<string | undefined> {
  await local.orchestrator.drain();
  return (await local.runtime.store.getExecution(executionId))?.status;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wflo-reload-'));
  writeFileSync(join(dir, 'hello.asl.json'), HELLO);
  const config = loadConfig({ WFLO_DATA_DIR: 'memory://', LLM_SCRIPT_FILE: TEST_SCRIPT });
  local = await createLocalRuntime(config, {
    statemachinesDir: dir,
    retryIntervalScale: 0,
    onWorkflowChange: onChange,
  });
  server = await startLocalServer(local, { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await server?.close();
  await local?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('wflo dev: workflow files reload without a restart', () => {
  it('loads the folder at start', () => {
    expect(changes).toEqual([
      { kind: 'added', name: 'hello', file: join(dir, 'hello.asl.json'), initial: true },
    ]);
  });

  it('serves a new file through the API once the watcher has loaded it', async () => {
    // Prepare
    const from = changes.length;
    expect((await start('greet', 'before')).status).toBe(404);

    // Act
    writeFileSync(join(dir, 'greet.asl.json'), HELLO.replace('"Comment": "Hello:', '"Comment": "Greet:'));
    const change = await changeAfter(from, (c) => c.kind !== 'refused' && c.name === 'greet');

    // Assess
    expect(change).toMatchObject({ kind: 'added', initial: false });
    const listed = (await (await fetch(`${server.url}/workflows`)).json()) as {
      items: { name: string; description: string }[];
    };
    expect(listed.items.find((w) => w.name === 'greet')?.description).toMatch(/^Greet:/);
    const started = await start('greet', 'new file');
    expect(started.status).toBe(201);
    expect(await finalStatus(started.body.executionId!)).toBe('succeeded');
  });

  it('refuses a broken edit, saying why, and keeps serving the previous version', async () => {
    // Prepare: the Finish Task loses its standard Lambda Retry (a house rule), and the Comment changes
    const from = changes.length;
    const definition = JSON.parse(HELLO) as { Comment: string; States: Record<string, { Retry?: unknown }> };
    delete definition.States.Finish!.Retry;
    definition.Comment = 'Broken';

    // Act
    writeFileSync(join(dir, 'hello.asl.json'), JSON.stringify(definition, null, 2));
    const change = await changeAfter(from, (c) => c.kind === 'refused');

    // Assess
    expect(change).toMatchObject({ kind: 'refused', file: join(dir, 'hello.asl.json'), serving: 'hello' });
    expect(change.kind === 'refused' && change.reason).toMatch(
      /hello\.asl\.json: breaks the workflow house rules:\n {2}state 'Finish': a Lambda Task needs the standard service-exception Retry/,
    );
    expect(local.orchestrator.workflows.get('hello')?.description).toMatch(/^Hello:/);
    const started = await start('hello', 'still served');
    expect(started.status).toBe(201);
    expect(await finalStatus(started.body.executionId!)).toBe('succeeded');
  });

  it('serves the fixed file again, and stops serving a deleted one', async () => {
    // Prepare
    const from = changes.length;

    // Act
    writeFileSync(
      join(dir, 'hello.asl.json'),
      HELLO.replace('"Comment": "Hello:', '"Comment": "Hello again:'),
    );
    unlinkSync(join(dir, 'greet.asl.json'));
    await changeAfter(from, (c) => c.kind === 'updated' && c.name === 'hello');
    await changeAfter(from, (c) => c.kind === 'removed' && c.name === 'greet');

    // Assess
    expect(local.orchestrator.workflows.get('hello')?.description).toMatch(/^Hello again:/);
    expect((await start('greet', 'gone')).status).toBe(404);
  });
});
