/**
 * The local sandbox under attack. Every case runs real untrusted code in real bubblewrap and asserts
 * the attack was contained, then (afterEach) that nothing of the sandbox is left: no process in its
 * namespaces, no per-run directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SandboxFailedError, ValidationError } from '../../functions/shared/errors.ts';
import type { SandboxLanguage, SandboxRequest } from '../../functions/shared/ports/sandbox.ts';
import { DEFAULT_HOST_UID, LocalSandbox } from '../../infra/local/engine/sandbox/local-sandbox.ts';
import { sampleWhile, sandboxProcesses } from './helpers.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const projectDir = process.cwd();
const isRoot = process.getuid?.() === 0;
// Its own host uid, so processes of another file's sandboxes never count as this file's leftovers.
const HOST_UID = DEFAULT_HOST_UID + 11;
const uidToWatch = isRoot ? HOST_UID : process.getuid!();

let workRoot: string;
let sandbox: LocalSandbox;

beforeAll(async () => {
  workRoot = await mkdtemp(join(tmpdir(), 'wflo-security-'));
  sandbox = new LocalSandbox({ workRoot, hostUid: HOST_UID });
});

afterAll(async () => {
  await rm(workRoot, { recursive: true, force: true });
});

afterEach(async () => {
  // Leftovers, after every case: nothing running in a sandbox namespace, no run directory.
  expect(sandboxProcesses(uidToWatch)).toEqual([]);
  expect(await readdir(workRoot)).toEqual([]);
});

const py = (code: string, extra: Partial<SandboxRequest> = {}) =>
  sandbox.run({ language: 'python', code, timeoutMs: 5_000, ...extra });
const js = (code: string, extra: Partial<SandboxRequest> = {}) =>
  sandbox.run({ language: 'javascript', code, timeoutMs: 5_000, ...extra });

describe('Class: LocalSandbox', () => {
  it('runs in bubblewrap here (the escape suite needs it: tests/security/install-sandbox-deps.sh)', () => {
    expect(sandbox.mode().kind).toBe('bubblewrap');
  });

  describe.each<{
    language: SandboxLanguage;
    stdout: string;
    stderr: string;
    exit3: string;
    syntaxError: string;
    echo: (s: string) => string;
  }>([
    {
      language: 'python',
      stdout: 'print("hello from python")',
      stderr: 'import sys; print("oops", file=sys.stderr)',
      exit3: 'import sys; print("bye"); sys.exit(3)',
      syntaxError: 'def broken(:\n  pass',
      echo: (s) => `print(${JSON.stringify(s)})`,
    },
    {
      language: 'javascript',
      stdout: 'console.log("hello from javascript")',
      stderr: 'console.error("oops")',
      exit3: 'console.log("bye"); process.exit(3)',
      syntaxError: 'function broken( {',
      echo: (s) => `console.log(${JSON.stringify(s)})`,
    },
  ])('$language', ({ language, stdout, stderr, exit3, syntaxError, echo }) => {
    const exec = (code: string) => sandbox.run({ language, code, timeoutMs: 5_000 });

    it('returns stdout and exit code 0', async () => {
      // Act
      const result = await exec(stdout);

      // Assess
      expect(result).toMatchObject({
        exitCode: 0,
        signal: null,
        stdout: `hello from ${language}\n`,
        stderr: '',
        truncated: false,
        timedOut: false,
      });
      expect(result.durationMs).toBeGreaterThan(0);
    });

    it('returns stderr separately from stdout', async () => {
      const result = await exec(stderr);
      expect(result).toMatchObject({ exitCode: 0, stdout: '', stderr: 'oops\n' });
    });

    it('reports a non-zero exit code with the output before it', async () => {
      const result = await exec(exit3);
      expect(result).toMatchObject({ exitCode: 3, stdout: 'bye\n', timedOut: false });
    });

    it('reports a syntax error as exit 1 with the error on stderr', async () => {
      const result = await exec(syntaxError);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('SyntaxError');
      expect(result.stdout).toBe('');
    });

    it('passes unicode through intact in code and output', async () => {
      const text = 'héllo wörld ✓ 日本語 😀';
      const result = await exec(echo(text));
      expect(result).toMatchObject({ exitCode: 0, stdout: `${text}\n` });
    });
  });

  it('runs JavaScript written as an ES module as well as CommonJS', async () => {
    const esm = await js(
      'import os from "node:os";\nconsole.log(typeof os.platform, await Promise.resolve(1));',
    );
    const cjs = await js('const fs = require("node:fs"); console.log(typeof fs.readFileSync);');
    expect(esm).toMatchObject({ exitCode: 0, stdout: 'function 1\n' });
    expect(cjs).toMatchObject({ exitCode: 0, stdout: 'function\n' });
  });

  it('runs the program as uid 65534 without capabilities in a fresh working directory under /tmp', async () => {
    // Act
    const result = await py(
      [
        'import os',
        'caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]',
        'print(os.getuid(), os.getgid(), caps, os.getcwd(), os.listdir("."))',
      ].join('\n'),
    );

    // Assess
    expect(result.stdout).toBe('65534 65534 0000000000000000 /tmp/work []\n');
  });

  it('rejects a request with an unknown language or out-of-range limits before running anything', async () => {
    await expect(sandbox.run({ language: 'ruby' as never, code: 'puts 1', timeoutMs: 1000 })).rejects.toThrow(
      ValidationError,
    );
    await expect(py('print(1)', { timeoutMs: 10 })).rejects.toThrow(/timeoutMs/);
    await expect(py('print(1)', { limits: { maxProcesses: 0 } })).rejects.toThrow(/maxProcesses/);
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    let connections = 0;

    beforeAll(async () => {
      server = createServer((socket) => {
        connections++;
        socket.end('secret from the host\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('cannot connect to a server on the host loopback (Python)', async () => {
      // Prepare: the host can reach it
      const before = connections;

      // Act
      const result = await py(
        [
          'import socket',
          'try:',
          `    s = socket.create_connection(("127.0.0.1", ${port}), timeout=2)`,
          '    print("CONNECTED", s.recv(100))',
          'except OSError as e:',
          '    print("blocked", type(e).__name__)',
        ].join('\n'),
      );

      // Assess
      expect(result.stdout).toBe('blocked ConnectionRefusedError\n');
      expect(connections).toBe(before);
    });

    it('cannot connect to a server on the host loopback (JavaScript)', async () => {
      const result = await js(
        `require("node:net").connect(${port}, "127.0.0.1")
          .on("connect", () => console.log("CONNECTED"))
          .on("error", (e) => console.log("blocked", e.code));`,
      );
      expect(result.stdout).toBe('blocked ECONNREFUSED\n');
    });

    it('has no route to any other address and no DNS', async () => {
      // Act
      const result = await py(
        [
          'import socket',
          'for target in [("1.1.1.1", 53), ("10.0.0.1", 80)]:',
          '    try:',
          '        socket.create_connection(target, timeout=2); print("CONNECTED")',
          '    except OSError as e:',
          '        print("blocked", e.errno)',
          'try:',
          '    socket.getaddrinfo("example.com", 443); print("RESOLVED")',
          'except OSError as e:',
          '    print("no dns")',
          'print(sorted(socket.if_nameindex(), key=lambda i: i[0]))',
        ].join('\n'),
      );

      // Assess: ENETUNREACH (101) for both, and loopback is the only interface
      expect(result.stdout).toBe("blocked 101\nblocked 101\nno dns\n[(1, 'lo')]\n");
    });
  });

  describe('filesystem', () => {
    it('cannot write anywhere outside /tmp', async () => {
      // Prepare
      const targets = [
        '/etc/wflo-escape',
        '/usr/wflo-escape',
        '/var/tmp/wflo-escape',
        `${projectDir}/wflo-escape`,
      ];
      for (const target of targets) rmSync(target, { force: true });

      // Act
      const result = await py(
        [
          'import os',
          `for path in ${JSON.stringify(targets)} + ["/wflo-escape", "/dev/wflo-escape", "/tmp/code/main.py"]:`,
          '    try:',
          '        open(path, "a").write("x"); print("WROTE", path)',
          '    except OSError as e:',
          '        print("denied", e.errno)',
          'open("/tmp/ok", "w").write("fine"); print("tmp ok")',
        ].join('\n'),
      );

      // Assess: EROFS (30) or ENOENT (2, masked/absent parents); nothing appeared on the host
      expect(result.stdout).not.toContain('WROTE');
      expect(result.stdout.match(/denied (30|2|13)\n/g)).toHaveLength(7);
      expect(result.stdout).toContain('tmp ok');
      for (const target of targets) expect(existsSync(target), target).toBe(false);
    });

    it('cannot read /etc/shadow', async () => {
      const result = await py(
        'try:\n    print("READ", open("/etc/shadow").read()[:20])\nexcept OSError as e:\n    print("denied", e.errno)',
      );
      // Not there at all: /etc inside holds only what the runtimes read (mounts.ts).
      expect(result.stdout).toBe('denied 2\n');
    });

    it('cannot read the project directory or home directories', async () => {
      // Act
      const result = await py(
        [
          'import os',
          `for path in [${JSON.stringify(`${projectDir}/package.json`)}, "/root/.bashrc", "/root/.aws/credentials"]:`,
          '    try:',
          '        open(path).read(1); print("READ", path)',
          '    except OSError as e:',
          '        print("denied", e.errno)',
          `for d in [${JSON.stringify(projectDir)}, "/home"]:`,
          '    try:',
          '        print(os.listdir(d))',
          '    except OSError as e:',
          '        print("absent", e.errno)',
        ].join('\n'),
      );

      // Assess: none of them exists inside (only the allowlist in mounts.ts does)
      expect(result.stdout).not.toContain('READ');
      expect(result.stdout).toBe('denied 2\ndenied 2\ndenied 2\nabsent 2\nabsent 2\n');
    });

    it('runs Node installed under a masked directory (nvm-style) without revealing its neighbours', async () => {
      // Prepare: /var is not on the allowlist; put a node "installation" and a secret beside it there
      const root = await mkdtemp('/var/tmp/wflo-nvm-');
      const prefix = join(root, 'versions', 'node', 'v0');
      await mkdir(join(prefix, 'bin'), { recursive: true });
      await chmod(root, 0o755);
      const node = join(prefix, 'bin', 'node');
      await link(realpathSync(process.execPath), node).catch(() => copyFile(process.execPath, node));
      await writeFile(join(root, 'secret.txt'), 'nvm-neighbour-secret', { mode: 0o644 });
      const nvmSandbox = new LocalSandbox({ workRoot, hostUid: HOST_UID, interpreters: { node } });

      try {
        // Act
        const result = await nvmSandbox.run({
          language: 'javascript',
          code: `const fs = require("node:fs");
            console.log(process.execPath);
            try { console.log("READ", fs.readFileSync(${JSON.stringify(join(root, 'secret.txt'))}, "utf8")); }
            catch (e) { console.log(e.code); }
            console.log(fs.readdirSync(${JSON.stringify(root)}).join(","));`,
          timeoutMs: 5_000,
        });

        // Assess: only the path down to the installation exists in there (as empty mount points)
        const mode = nvmSandbox.mode();
        expect(mode.kind === 'bubblewrap' && mode.mounts).toContainEqual({ kind: 'ro-bind', path: prefix });
        expect(result.stdout).toBe(`${node}\nENOENT\nversions\n`);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });

    it('cannot fill the disk: one file stops at the file-size limit, /tmp at its size', async () => {
      // Act
      const result = await py(
        [
          'import os, signal',
          'signal.signal(signal.SIGXFSZ, signal.SIG_IGN)',
          'try:',
          '    with open("/tmp/big", "wb") as f:',
          '        for _ in range(64): f.write(b"x" * (1 << 20))',
          'except OSError as e:',
          '    print("file stopped", e.errno, os.path.getsize("/tmp/big") >> 20)',
          'os.remove("/tmp/big")',
          'try:',
          '    for i in range(100):',
          '        with open(f"/tmp/f{i}", "wb") as f: f.write(b"x" * (1 << 20))',
          'except OSError as e:',
          '    print("tmp stopped", e.errno)',
        ].join('\n'),
        { limits: { maxFileBytes: 4 * MiB, tmpBytes: 16 * MiB } },
      );

      // Assess: EFBIG (27) at 4 MiB, ENOSPC (28) at 16 MiB
      expect(result.stdout).toBe('file stopped 27 4\ntmp stopped 28\n');
    });
  });

  describe('secrets', () => {
    it('does not see an environment variable set in the parent', async () => {
      // Prepare
      process.env.WFLO_CANARY_SECRET = 'canary-3f9a1c';
      try {
        // Act
        const result = await py(
          'import os\nprint(sorted(os.environ))\nprint(open("/proc/self/environ").read())\nprint(open("/proc/1/environ").read())',
        );

        // Assess
        expect(result.exitCode).toBe(0);
        expect(result.stdout).not.toContain('canary-3f9a1c');
        // PWD is bwrap's (--chdir): the working directory, nothing of ours
        expect(result.stdout.split('\n')[0]).toBe("['HOME', 'LANG', 'LC_ALL', 'PATH', 'PWD', 'TMPDIR']");
      } finally {
        delete process.env.WFLO_CANARY_SECRET;
      }
    });

    it('cannot see host processes (and so cannot read their environment or signal them)', async () => {
      // Act
      const result = await py(
        [
          'import os',
          'print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))',
          `try:\n    os.kill(${process.pid}, 9); print("SIGNALLED")\nexcept OSError as e:\n    print("no such process", e.errno)`,
        ].join('\n'),
      );

      // Assess: only itself, PID 1 of its own namespace; our pid does not exist in there
      expect(result.stdout).toBe(`[1]\nno such process 3\n`);
    });
  });

  describe('resource attacks', () => {
    it('contains a fork bomb at the process limit while the host keeps spawning', async () => {
      // Prepare
      const maxProcesses = 16;
      const bomb = sandbox.run({
        language: 'python',
        code: 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass',
        timeoutMs: 2_000,
        limits: { maxProcesses },
      });

      // Act: watch the sandbox's process count; meanwhile the host must still be able to start processes
      // (inside its namespaces only: bwrap's monitor outside is not the program's)
      const inside = () => sandboxProcesses(uidToWatch, false).length;
      const { value: result, samples } = await sampleWhile(bomb, inside, 25);
      const duringBomb = await run('/bin/true');

      // Assess
      expect(Math.max(...samples)).toBeGreaterThanOrEqual(maxProcesses / 2);
      expect(Math.max(...samples)).toBeLessThanOrEqual(maxProcesses);
      expect(result).toMatchObject({ timedOut: true, exitCode: 137 });
      expect(duringBomb.stderr).toBe('');
      await expect(run('/bin/sh', ['-c', 'echo host fine'])).resolves.toMatchObject({
        stdout: 'host fine\n',
      });
    });

    it('kills a Python memory bomb at the memory limit and reports it', async () => {
      // Prepare
      const rssBefore = process.memoryUsage().rss;

      // Act
      const result = await py('chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))', {
        limits: { memoryBytes: 128 * MiB },
      });

      // Assess
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('MemoryError');
      expect(result.timedOut).toBe(false);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * MiB);
    });

    it('kills a JavaScript memory bomb at the heap limit and reports it', async () => {
      const result = await js('const a = []; for (;;) a.push(new Array(1e6).fill(1.5));', {
        limits: { memoryBytes: 128 * MiB },
      });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('heap out of memory');
      expect(result.timedOut).toBe(false);
    });

    it('kills a memory bomb outside the JavaScript heap (Buffers) at the address-space limit', async () => {
      const result = await js('const a = []; for (;;) a.push(Buffer.alloc(64 << 20, 1));', {
        limits: { memoryBytes: 128 * MiB },
      });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(/RangeError|Array buffer allocation failed|out of memory/i);
    });

    it('kills a CPU spin at the wall-clock timeout and says so', async () => {
      // Act
      const result = await py('while True:\n    pass', { timeoutMs: 1_000 });

      // Assess
      expect(result).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: 137 });
      expect(result.durationMs).toBeGreaterThanOrEqual(1_000);
      expect(result.durationMs).toBeLessThan(2_500);
    });

    it('kills a CPU spin at the CPU-time limit even when the wall clock allows more', async () => {
      const result = await py('while True:\n    pass', { timeoutMs: 20_000, limits: { cpuSeconds: 1 } });
      expect(result).toMatchObject({ timedOut: false, exitCode: 137 });
      expect(result.durationMs).toBeLessThan(5_000);
    });

    it('kills a program that ignores SIGTERM and hides in children at the timeout', async () => {
      const result = await py(
        [
          'import os, signal, time',
          'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
          'for _ in range(3):',
          '    if os.fork() == 0:',
          '        os.setsid()',
          '        while True: time.sleep(1)',
          'print("spawned", flush=True)',
          'while True: time.sleep(1)',
        ].join('\n'),
        { timeoutMs: 1_000 },
      );
      expect(result).toMatchObject({ timedOut: true, stdout: 'spawned\n' });
    });

    it('truncates an output flood without buffering it in the parent', async () => {
      // Prepare
      const rssBefore = process.memoryUsage().rss;

      // Act: 256 MiB to stdout and 64 MiB to stderr
      const result = await py(
        [
          'import sys',
          'chunk = b"x" * (1 << 20)',
          'for _ in range(256): sys.stdout.buffer.write(chunk)',
          'for _ in range(64): sys.stderr.buffer.write(chunk)',
          'print("done", file=sys.stderr)',
        ].join('\n'),
        { timeoutMs: 20_000, limits: { maxOutputBytes: 64 * 1024 } },
      );

      // Assess
      expect(result).toMatchObject({ exitCode: 0, truncated: true, timedOut: false });
      expect(result.stdout.length).toBe(64 * 1024);
      expect(result.stderr.length).toBe(64 * 1024);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * MiB);
    });

    it('truncates an endless flood and stops it at the timeout', async () => {
      const result = await js('const s = "y".repeat(1 << 16); for (;;) process.stdout.write(s);', {
        timeoutMs: 1_000,
        limits: { maxOutputBytes: 4096 },
      });
      expect(result).toMatchObject({ truncated: true, timedOut: true });
      expect(result.stdout).toBe('y'.repeat(4096));
    });
  });

  describe('leftovers', () => {
    it('leaves no process behind when the program daemonizes and exits', async () => {
      // Act: a double-forked, session-leading daemon that outlives its parent
      const result = await py(
        [
          'import os, time',
          'if os.fork() == 0:',
          '    os.setsid()',
          '    if os.fork() == 0:',
          '        time.sleep(60)',
          '    os._exit(0)',
          'time.sleep(0.2)',
          'print("parent exits")',
        ].join('\n'),
      );

      // Assess (afterEach checks again): the daemon died with the namespace
      expect(result).toMatchObject({ exitCode: 0, stdout: 'parent exits\n' });
      expect(sandboxProcesses(uidToWatch)).toEqual([]);
    });

    it('removes the run directory even when the program fails to start', async () => {
      // Prepare: an interpreter that does not exist inside the sandbox
      const broken = new LocalSandbox({
        workRoot,
        hostUid: HOST_UID,
        interpreters: { python: '/nonexistent/python3' },
      });

      // Act
      const result = await broken.run({ language: 'python', code: 'print(1)', timeoutMs: 2_000 });

      // Assess
      expect(result.exitCode).not.toBe(0);
      expect(await readdir(workRoot)).toEqual([]);
    });
  });

  describe('without bubblewrap', () => {
    it('refuses to run untrusted code and says how to install bubblewrap', async () => {
      // Prepare
      const missing = new LocalSandbox({ workRoot, bwrapPath: '/nonexistent/bwrap' });

      // Act
      const act = missing.run({ language: 'python', code: 'print(1)', timeoutMs: 1_000 });

      // Assess
      await expect(act).rejects.toThrow(SandboxFailedError);
      await expect(act).rejects.toThrow(/refusing to run untrusted code.*apt-get install bubblewrap/s);
    });

    it('runs with an explicit unsafeLocalSandbox, warning once, still with a cleared environment', async () => {
      // Prepare
      const warnings: string[] = [];
      process.env.WFLO_CANARY_SECRET = 'canary-unsafe';
      const unsafe = new LocalSandbox({
        workRoot,
        hostUid: HOST_UID,
        bwrapPath: '/nonexistent/bwrap',
        unsafeLocalSandbox: true,
        onWarning: (m) => warnings.push(m),
      });

      try {
        // Act
        const first = await unsafe.run({
          language: 'python',
          code: 'import os; print(sorted(os.environ))',
          timeoutMs: 2_000,
        });
        const spin = await unsafe.run({ language: 'python', code: 'while True: pass', timeoutMs: 500 });

        // Assess
        expect(unsafe.mode().kind).toBe('unsafe');
        expect(first.stdout).toBe("['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\n");
        expect(spin.timedOut).toBe(true);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/WITHOUT a sandbox/);
      } finally {
        delete process.env.WFLO_CANARY_SECRET;
      }
    });
  });
});
