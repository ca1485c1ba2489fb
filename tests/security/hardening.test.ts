/**
 * The local sandbox against the attacks of issue 13: the kernel keyring both ways, host files outside
 * the run's work directory, SysV shared memory past the memory limit, io_uring and the other syscalls
 * the filter denies, namespace creation, and admission of many runs at once. Real code in real
 * bubblewrap, like local-sandbox.test.ts.
 */
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxRequest } from '../../functions/shared/ports/sandbox.ts';
import { openPglite } from '../../infra/local/engine/db/pglite.ts';
import { DEFAULT_HOST_UID, LocalSandbox } from '../../infra/local/engine/sandbox/local-sandbox.ts';
import { sandboxProcesses } from './helpers.ts';

const MiB = 1024 * 1024;
const projectDir = process.cwd();
const isRoot = process.getuid?.() === 0;
// Its own host uid, so processes of another file's sandboxes never count as this file's leftovers.
const HOST_UID = DEFAULT_HOST_UID + 31;
const uidToWatch = isRoot ? HOST_UID : process.getuid!();

let workRoot: string;
let sandbox: LocalSandbox;

beforeAll(async () => {
  workRoot = await mkdtemp(join(tmpdir(), 'wflo-hardening-'));
  sandbox = new LocalSandbox({ workRoot, hostUid: HOST_UID });
});

afterAll(async () => {
  await rm(workRoot, { recursive: true, force: true });
});

afterEach(async () => {
  expect(sandboxProcesses(uidToWatch)).toEqual([]);
  expect(await readdir(workRoot)).toEqual([]);
});

const py = (code: string, extra: Partial<SandboxRequest> = {}, on = sandbox) =>
  on.run({ language: 'python', code, timeoutMs: 10_000, ...extra });

/**
 * Python prelude: `sc(name, *args)` makes a raw syscall through ctypes and returns its result, or
 * minus errno. Numbers for both architectures the filter knows.
 */
const SYSCALLS = `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {
  "x86_64": dict(keyctl=250, add_key=248, request_key=249, io_uring_setup=425, io_uring_enter=426,
                 io_uring_register=427, bpf=321, userfaultfd=323, perf_event_open=298, ptrace=101,
                 unshare=272, setns=308, clone=56, clone3=435, shmget=29, shmat=30, msgget=68,
                 memfd_create=319, process_vm_readv=310),
  "aarch64": dict(keyctl=219, add_key=217, request_key=218, io_uring_setup=425, io_uring_enter=426,
                  io_uring_register=427, bpf=280, userfaultfd=282, perf_event_open=241, ptrace=117,
                  unshare=97, setns=268, clone=220, clone3=435, shmget=194, shmat=196, msgget=186,
                  memfd_create=279, process_vm_readv=270),
}[os.uname().machine]
def sc(name, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return r if r >= 0 else -ctypes.get_errno()
`;

describe('The syscall filter', () => {
  it('denies the keyring, io_uring, bpf, userfaultfd, perf, ptrace, SysV IPC and namespace syscalls with EPERM (clone3: ENOSYS)', async () => {
    // Prepare: each call with arguments that would succeed (or fail otherwise than EPERM) unfiltered
    const code = `${SYSCALLS}
buf = ctypes.create_string_buffer(256)
CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x10000000, 0x40000000, 17
results = {
  "keyctl": sc("keyctl", 0, -3, 1),
  "add_key": sc("add_key", b"user", b"wflo-probe", b"x", 1, -3),
  "request_key": sc("request_key", b"user", b"wflo-probe", 0, 0),
  "io_uring_setup": sc("io_uring_setup", 4, buf),
  "io_uring_enter": sc("io_uring_enter", 0, 0, 0, 0, 0),
  "io_uring_register": sc("io_uring_register", 0, 0, 0, 0),
  "bpf": sc("bpf", 0, buf, 72),
  "userfaultfd": sc("userfaultfd", 0),
  "perf_event_open": sc("perf_event_open", buf, 0, -1, -1, 0),
  "ptrace": sc("ptrace", 0, 0, 0, 0),
  "process_vm_readv": sc("process_vm_readv", 1, buf, 1, buf, 1, 0),
  "unshare": sc("unshare", CLONE_NEWUSER),
  "setns": sc("setns", os.open("/proc/self/ns/net", os.O_RDONLY), 0),
  "shmget": sc("shmget", 0, 1 << 20, 0o1600),
  "msgget": sc("msgget", 0, 0o1600),
  "memfd_create": sc("memfd_create", b"wflo", 0),
  "clone3": sc("clone3", buf, 88),
}
pid = sc("clone", CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)
if pid == 0:
    os._exit(0)
results["clone(CLONE_NEWUSER|CLONE_NEWNET)"] = pid
for k in sorted(results): print(k, results[k])
`;

    // Act
    const result = await py(code);

    // Assess
    expect(result.stderr).toBe('');
    const seen = Object.fromEntries(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')),
    );
    const EPERM = '-1';
    const ENOSYS = '-38';
    expect(seen).toEqual({
      keyctl: EPERM,
      add_key: EPERM,
      request_key: EPERM,
      io_uring_setup: EPERM,
      io_uring_enter: EPERM,
      io_uring_register: EPERM,
      bpf: EPERM,
      userfaultfd: EPERM,
      perf_event_open: EPERM,
      ptrace: EPERM,
      process_vm_readv: EPERM,
      unshare: EPERM,
      setns: EPERM,
      shmget: EPERM,
      msgget: EPERM,
      memfd_create: EPERM,
      clone3: ENOSYS,
      'clone(CLONE_NEWUSER|CLONE_NEWNET)': EPERM,
    });
  });

  it('still lets programs start threads and processes (clone without namespace flags, clone3 falling back)', async () => {
    // Act
    const python = await py(
      [
        'import os, threading, subprocess',
        'out = []',
        't = threading.Thread(target=lambda: out.append("thread"))',
        't.start(); t.join()',
        'pid = os.fork()',
        'if pid == 0: os._exit(7)',
        'out.append("child %d" % os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))',
        'out.append(subprocess.run(["/bin/echo", "exec"], capture_output=True, text=True).stdout.strip())',
        'print(" ".join(out))',
      ].join('\n'),
    );
    const javascript = await sandbox.run({
      language: 'javascript',
      code: `const { Worker } = require('node:worker_threads');
        const { execFileSync } = require('node:child_process');
        new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true })
          .on('message', (n) => console.log('worker', n, execFileSync('/bin/echo', ['exec']).toString().trim()));`,
      timeoutMs: 10_000,
    });

    // Assess
    expect(python).toMatchObject({ exitCode: 0, stdout: 'thread child 7 exec\n', stderr: '' });
    expect(javascript).toMatchObject({ exitCode: 0, stdout: 'worker 42 exec\n', stderr: '' });
  });
});

describe('The kernel keyring', () => {
  let keyDir: string;
  let keyedSandbox: LocalSandbox;
  const nonce = `${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    // The session wflo dev runs in, with a secret in its keyring: bubblewrap is started from a
    // session keyring (joined by name, so every run shares it) holding a key only its possessors read.
    keyDir = await mkdtemp(join(tmpdir(), 'wflo-keyring-'));
    await chmod(keyDir, 0o755);
    const wrapper = join(keyDir, 'bwrap');
    await writeFile(
      wrapper,
      `#!/usr/bin/python3
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
keyctl, add_key = {"x86_64": (250, 248), "aarch64": (219, 217)}[os.uname().machine]
if libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(1), b"wflo-host-session-${nonce}") < 0:
    sys.exit("join session keyring: errno %d" % ctypes.get_errno())
secret = b"host-secret-${nonce}"
if libc.syscall(ctypes.c_long(add_key), b"user", b"wflo-host-secret", secret, ctypes.c_long(len(secret)), ctypes.c_long(-3)) < 0:
    sys.exit("add_key: errno %d" % ctypes.get_errno())
os.execv("/usr/bin/bwrap", ["bwrap"] + sys.argv[1:])
`,
      { mode: 0o755 },
    );
    keyedSandbox = new LocalSandbox({ workRoot, hostUid: HOST_UID, bwrapPath: wrapper });
  });

  afterAll(async () => {
    await rm(keyDir, { recursive: true, force: true });
  });

  const KEYS = `${SYSCALLS}
def search(desc):
    return sc("keyctl", 10, -3, b"user", desc, 0)
def read(key):
    buf = ctypes.create_string_buffer(128)
    n = sc("keyctl", 11, key, buf, 128)
    return buf.raw[:n].decode() if n >= 0 else n
try:
    proc_keys = [l.split()[-1] for l in open("/proc/keys")]
except OSError as e:
    proc_keys = "errno %d" % e.errno
`;

  it('cannot read a key of the session the sandbox was started from', async () => {
    // Act
    const result = await py(
      `${KEYS}
key = search(b"wflo-host-secret")
print("search", key)
print("read", read(key) if key > 0 else "-")
print("proc_keys", proc_keys)`,
      {},
      keyedSandbox,
    );

    // Assess: the search is refused; nothing of the session's keys is readable
    expect(result.stderr).toBe('');
    expect(result.stdout).not.toContain(`host-secret-${nonce}`);
    expect(result.stdout).toMatch(/^search -1\nread -\n/);
    expect(result.stdout).not.toContain('wflo-host-secret');
  });

  it('cannot hand data to a later run through the keyring, nor see keys of other runs in /proc/keys', async () => {
    // Act: one run leaves a key in the session and user keyrings, the next looks for it
    const first = await py(
      `${KEYS}
print(sc("add_key", b"user", b"wflo-run-drop", b"from-run-1", 10, -3), sc("add_key", b"user", b"wflo-run-drop", b"from-run-1", 10, -4))`,
      {},
      keyedSandbox,
    );
    const second = await py(
      `${KEYS}
print("search", search(b"wflo-run-drop"), sc("keyctl", 10, -4, b"user", b"wflo-run-drop", 0))
print("proc_keys", proc_keys)`,
      {},
      keyedSandbox,
    );

    // Assess
    expect(first.stdout).toBe('-1 -1\n');
    expect(second.stdout).toMatch(/^search -1 -1\n/);
    expect(second.stdout).not.toContain('wflo-run-drop');
  });
});

describe('Host files outside the work directory', () => {
  it('sees only the runtime allowlist at the root: no /work, /home, /root, /sys, /var or other checkouts', async () => {
    // Act
    const result = await py('import os\nprint(" ".join(sorted(os.listdir("/"))))');

    // Assess: the system directories (as on the host: directories or usr-merge symlinks), /dev,
    // /proc and the private /tmp, nothing else
    const system = ['bin', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'sbin', 'usr'].filter((d) =>
      existsSync(`/${d}`),
    );
    expect(result.stdout).toBe(`${[...system, 'dev', 'proc', 'tmp'].sort().join(' ')}\n`);
  });

  it('keeps usr-merge symlinks symlinks, and /etc down to what the runtimes read', async () => {
    // Act
    const result = await py(
      [
        'import os',
        'print(" ".join(d + ("->" + os.readlink("/" + d) if os.path.islink("/" + d) else "") for d in ["bin", "lib"]))',
        'print(sorted(os.listdir("/etc")))',
        'print(os.path.exists("/etc/shadow"), os.path.exists("/etc/passwd"), os.path.exists("/etc/hostname"))',
      ].join('\n'),
    );

    // Assess
    const host = ['bin', 'lib']
      .map((d) => (lstatSync(`/${d}`).isSymbolicLink() ? `${d}->${readlinkSync(`/${d}`)}` : d))
      .join(' ');
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(host);
    const etc = JSON.parse(lines[1]!.replaceAll("'", '"')) as string[];
    expect(etc).toContain('ld.so.cache');
    for (const secret of ['shadow', 'passwd', 'hostname', 'hosts', 'environment']) {
      expect(etc).not.toContain(secret);
    }
    expect(lines[2]).toBe('False False False');
  });

  it("cannot read a sibling checkout's .env or another execution's data in the data directory", async () => {
    // Prepare: beside this checkout, where the old denylist did not reach
    const sibling = await mkdtemp(join(dirname(projectDir), '.wflo-escape-sibling-'));
    const dataDir = await mkdtemp(join(dirname(projectDir), '.wflo-escape-data-'));
    try {
      await chmod(sibling, 0o755);
      await chmod(dataDir, 0o755);
      await writeFile(join(sibling, '.env'), 'OPENAI_API_KEY=sk-sibling-secret\n', { mode: 0o644 });
      await mkdir(join(dataDir, 'pg_wal'), { mode: 0o755 });
      await writeFile(join(dataDir, 'pg_wal', '000000010000000000000001'), 'input of another execution', {
        mode: 0o644,
      });

      // Act
      const result = await py(
        [
          `for path in ${JSON.stringify([join(sibling, '.env'), join(dataDir, 'pg_wal', '000000010000000000000001'), '/sys/kernel/hostname', '/root/.bashrc'])}:`,
          '    try:',
          '        print("READ", open(path).read(40))',
          '    except OSError as e:',
          '        print("denied", e.errno)',
        ].join('\n'),
      );

      // Assess: nothing there (ENOENT), nothing of the contents
      expect(result.stdout).not.toContain('READ');
      expect(result.stdout).not.toContain('secret');
      expect(result.stdout).toBe('denied 2\ndenied 2\ndenied 2\ndenied 2\n');
    } finally {
      await rm(sibling, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('creates the PGlite data directory 0700', async () => {
    // Prepare
    const parent = await mkdtemp(join(tmpdir(), 'wflo-datadir-'));
    const dataDir = join(parent, 'data', '.wflo');
    try {
      // Act
      const conn = await openPglite(dataDir);
      await conn.close();

      // Assess: neither the directory nor the one above it (both made here) is readable by others
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(parent, 'data')).mode & 0o777).toBe(0o700);
      expect(readdirSync(dataDir).length).toBeGreaterThan(0);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe('Memory outside RLIMIT_AS', () => {
  it('cannot grow past the memory limit through SysV shared memory', async () => {
    // Act: 4 x 64 MiB segments, each touched and detached, with a 128 MiB limit
    const result = await py(
      `${SYSCALLS}
import mmap
total = 0
for i in range(4):
    shm = sc("shmget", 0, 64 << 20, 0o1600)
    if shm < 0:
        print("denied", -shm); break
    libc.shmat.restype = ctypes.c_void_p
    addr = libc.shmat(shm, None, 0)
    ctypes.memset(addr, 1, 64 << 20)
    libc.shmdt(ctypes.c_void_p(addr))
    total += 64
print("total", total)`,
      { limits: { memoryBytes: 128 * MiB } },
    );

    // Assess
    expect(result.stdout).toBe('denied 1\ntotal 0\n');
  });

  it('has no writable /dev/shm for POSIX shared memory', async () => {
    const result = await py(
      'try:\n    open("/dev/shm/wflo", "wb").write(b"x" * 4096); print("WROTE")\nexcept OSError as e:\n    print("denied", e.errno)',
    );
    expect(result.stdout).toMatch(/^denied (30|2|13)\n$/);
  });
});

describe('Admission control', () => {
  /** A Python program that prints when it started and ended (host wall clock, seconds). */
  const timed = (seconds: number) =>
    `import time\nstart = time.time()\ntime.sleep(${seconds})\nprint(start, time.time())`;
  const interval = (stdout: string) => stdout.trim().split(' ').map(Number) as [number, number];

  it('runs at most maxConcurrent sandboxes at once and the rest afterwards', async () => {
    // Prepare
    const two = new LocalSandbox({ workRoot, hostUid: HOST_UID, maxConcurrent: 2 });

    // Act
    const results = await Promise.all(Array.from({ length: 6 }, () => py(timed(0.5), {}, two)));

    // Assess: at no instant more than two programs ran, and two did run together
    const intervals = results.map((r) => interval(r.stdout));
    const overlap = (at: number) => intervals.filter(([s, e]) => s <= at && at < e).length;
    const most = Math.max(...intervals.map(([s]) => overlap(s)));
    expect(most).toBe(2);
  });

  it('admits waiting runs in the order they came (FIFO)', async () => {
    // Prepare
    const one = new LocalSandbox({ workRoot, hostUid: HOST_UID, maxConcurrent: 1 });

    // Act
    const results = await Promise.all(Array.from({ length: 4 }, () => py(timed(0.2), {}, one)));

    // Assess: each started after the one before it ended
    const intervals = results.map((r) => interval(r.stdout));
    for (let i = 1; i < intervals.length; i++) {
      expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    }
  });

  it('counts the wait against the timeout: a run that times out in the queue reports a timeout', async () => {
    // Prepare: one slot, held for 2 s
    const one = new LocalSandbox({ workRoot, hostUid: HOST_UID, maxConcurrent: 1 });
    const holder = py(timed(2), {}, one);

    // Act: one that would take 0.1 s but may wait only 1 s, one admitted late with too little time left
    const queuedOut = py('print("ran")', { timeoutMs: 1_000 }, one);
    const lateStart = py(timed(1.5), { timeoutMs: 3_000 }, one);
    const [held, timedOut, late] = await Promise.all([holder, queuedOut, lateStart]);
    const realTimeout = await py('while True: pass', { timeoutMs: 500 }, one);

    // Assess: the queued one never ran and looks like any timed-out run
    expect(held.exitCode).toBe(0);
    expect(timedOut).toMatchObject({
      timedOut: true,
      stdout: '',
      exitCode: realTimeout.exitCode,
      signal: realTimeout.signal,
    });
    expect(timedOut.durationMs).toBeGreaterThanOrEqual(950);
    expect(timedOut.durationMs).toBeLessThan(2_000);
    // Admitted after ~2 s of its 3 s, it was killed at the end of its 3 s, not 3 s after admission
    expect(late).toMatchObject({ timedOut: true, stdout: '' });
    expect(realTimeout.timedOut).toBe(true);
  });
});
