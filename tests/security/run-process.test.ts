/**
 * The runner core both sandboxes share: a process tree that cannot outlive its timeout, output that
 * cannot grow the parent, an environment that carries nothing of the parent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type KillReason, runProcess } from '../../sandbox-image/src/core/process.ts';
import { processesWithArgs, waitFor } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const base = { cwd: '/', env: { PATH: '/usr/bin:/bin' }, timeoutMs: 5_000, maxOutputBytes: 64 * 1024 };
const sh = (script: string, extra: Partial<Parameters<typeof runProcess>[0]> = {}) =>
  runProcess({ ...base, command: '/bin/sh', args: ['-c', script], ...extra });

const strays: number[] = [];
afterEach(() => {
  // Processes a test deliberately let escape; killed by pid, never by name.
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

describe('Function: runProcess', () => {
  it('returns exit code, stdout and stderr', async () => {
    const outcome = await sh('echo out; echo err >&2; exit 4');
    expect(outcome.exitCode).toBe(4);
    expect(outcome.stdout.text()).toBe('out\n');
    expect(outcome.stderr.text()).toBe('err\n');
    expect(outcome.timedOut).toBe(false);
  });

  it('passes exactly the given environment and nothing of the parent', async () => {
    // Prepare
    process.env.WFLO_CANARY_SECRET = 'canary-core';
    try {
      // Act
      const outcome = await runProcess({ ...base, command: '/usr/bin/env', args: [], env: { ONLY: 'this' } });

      // Assess
      expect(outcome.stdout.text()).toBe('ONLY=this\n');
    } finally {
      delete process.env.WFLO_CANARY_SECRET;
    }
  });

  it('gives the program an empty stdin', async () => {
    const outcome = await runProcess({ ...base, command: '/bin/cat', args: [], timeoutMs: 2_000 });
    expect(outcome).toMatchObject({ exitCode: 0, timedOut: false });
    expect(outcome.stdout.text()).toBe('');
  });

  it('kills the whole process group at the timeout', async () => {
    // Act: two background sleepers and a shell waiting for them
    const outcome = await sh('sleep 31.4159265 & sleep 31.4159265 & wait', { timeoutMs: 500 });

    // Assess
    expect(outcome).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: 137 });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(500);
    expect(outcome.durationMs).toBeLessThan(1_500);
    expect(processesWithArgs('31.4159265')).toEqual([]);
  });

  it('kills what the program left running in its group when it exits', async () => {
    // Act: the background sleeper holds stdout open; without the group kill this would take 30 s
    const started = performance.now();
    const outcome = await sh('sleep 32.7182818 & echo parent done');

    // Assess
    expect(outcome.stdout.text()).toBe('parent done\n');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(processesWithArgs('32.7182818')).toEqual([]);
  });

  it('asks killExtra to reach what left the group, on timeout and again after exit', async () => {
    // Prepare
    const reasons: KillReason[] = [];

    // Act
    await sh('sleep 5', {
      timeoutMs: 300,
      killExtra: (r) => {
        reasons.push(r);
        return false;
      },
    });

    // Assess
    expect(reasons).toEqual(['timeout', 'exited']);
  });

  it('does not hang when an escaped process keeps the output pipe open', async () => {
    // Act: setsid leaves the process group; the sleeper inherits stdout
    const outcome = await sh(`setsid sh -c 'echo $$; exec sleep 33.1415926' & sleep 0.3`, {
      closeGraceMs: 300,
    });
    const pid = Number(outcome.stdout.text().trim());
    strays.push(pid);

    // Assess: settled after the grace period, and the escape is real (that is killExtra's job)
    expect(outcome.exitCode).toBe(0);
    expect(processesWithArgs('33.1415926')).toEqual([pid]);
  });

  it('caps a flood of output and keeps draining it so the program finishes', async () => {
    // Prepare
    const rssBefore = process.memoryUsage().rss;

    // Act: 200 MiB through a 1 KiB cap
    const outcome = await sh('head -c 209715200 /dev/zero', { maxOutputBytes: 1024, timeoutMs: 20_000 });

    // Assess
    expect(outcome).toMatchObject({ exitCode: 0, timedOut: false });
    expect(outcome.stdout.truncated).toBe(true);
    expect(outcome.stdout.bytesSeen).toBe(209_715_200);
    expect(outcome.stdout.text()).toHaveLength(1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
  });

  it('kills the tree on abort without calling it a timeout', async () => {
    // Prepare
    const abort = new AbortController();
    const running = sh('sleep 34.2718281 & wait', { signal: abort.signal });
    await waitFor(() => processesWithArgs('34.2718281').length > 0);

    // Act
    abort.abort();
    const outcome = await running;

    // Assess
    expect(outcome).toMatchObject({ aborted: true, timedOut: false, signal: 'SIGKILL' });
    expect(processesWithArgs('34.2718281')).toEqual([]);
  });

  it('rejects when the program cannot be started', async () => {
    await expect(runProcess({ ...base, command: '/nonexistent/program', args: [] })).rejects.toThrow(
      /ENOENT/,
    );
  });

  it.runIf(isRoot)('runs the program as the given uid and gid without supplementary groups', async () => {
    const outcome = await runProcess({ ...base, command: '/usr/bin/id', args: [], uid: 65534, gid: 65534 });
    expect(outcome.stdout.text()).toMatch(/^uid=65534\(\w+\) gid=65534\(\w+\) groups=65534\(\w+\)\n$/);
  });
});
