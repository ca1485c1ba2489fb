/**
 * The Fargate runner end to end: the real bundle (`sandbox-image/build.mjs`), run with `node` as the
 * image runs it, reading code inline or from a URL and delivering its result to a file or a PUT URL
 * (a loopback server stands in for S3 presigned URLs).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSandboxResult } from '../../functions/shared/sandbox/result.ts';
import { encodeInlineCode } from '../../sandbox-image/src/io.ts';
import { processesWithArgs, waitFor } from './helpers.ts';

let dir: string;
let bundle: string;
let workRoot: string;
let server: Server;
let baseUrl: string;
/** What the fake S3 serves (GET /code/<key>) and received (PUT /result/<key>). */
const objects = new Map<string, { status: number; body: string }>();
const puts: Array<{ url: string; contentType: string | undefined; body: string }> = [];
let putStatus = 200;

const body = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wflo-runner-'));
  // Traversable, as /tmp is in the image: a root runner hands the program to uid 65534.
  await chmod(dir, 0o711);
  bundle = join(dir, 'runner.mjs');
  execFileSync(process.execPath, ['sandbox-image/build.mjs', '--outfile', bundle], { stdio: 'pipe' });
  workRoot = join(dir, 'work');
  await mkdir(workRoot, { mode: 0o1777 });
  server = createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'GET' && objects.has(path)) {
      const object = objects.get(path)!;
      res.writeHead(object.status).end(object.body);
    } else if (req.method === 'PUT') {
      puts.push({ url: req.url ?? '', contentType: req.headers['content-type'], body: await body(req) });
      res.writeHead(putStatus).end();
    } else {
      res.writeHead(404).end('NoSuchKey');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  objects.clear();
  puts.length = 0;
  putStatus = 200;
  // Every run removes its working directory.
  expect(await readdir(workRoot)).toEqual([]);
});

interface Invocation {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts the bundled runner with exactly `env` (plus a canary secret it must not pass on). */
function startRunner(
  env: Record<string, string>,
  args: string[] = [],
): { child: ChildProcess; done: Promise<Invocation> } {
  const child = spawn(process.execPath, [bundle, ...args], {
    env: { PATH: '/usr/bin:/bin', WFLO_WORK_ROOT: workRoot, WFLO_CANARY_SECRET: 'canary-runner', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Invocation>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

const runner = (env: Record<string, string>, args: string[] = []) => startRunner(env, args).done;

async function resultFile(path: string) {
  return parseSandboxResult(JSON.parse(await readFile(path, 'utf8')));
}

describe('Module: sandbox runner (bundled)', () => {
  it('runs inline Python and writes the result file, as a non-root user, with nothing of its environment', async () => {
    // Prepare
    const resultPath = join(dir, 'inline.json');
    const code =
      'import os, sys\nprint(os.getuid() != 0, sorted(os.environ))\nprint("warn", file=sys.stderr)\nsys.exit(2)';

    // Act
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode(code),
      WFLO_RESULT_FILE: resultPath,
    });

    // Assess
    expect(invocation.code).toBe(0);
    const result = await resultFile(resultPath);
    expect(result).toMatchObject({
      exitCode: 2,
      stdout: "True ['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\n",
      stderr: 'warn\n',
      truncated: false,
      timedOut: false,
    });
    expect(result.stdout).not.toContain('canary');
  });

  it('GETs JavaScript from a presigned URL and PUTs the JSON result to another', async () => {
    // Prepare
    objects.set('/code/abc', { status: 200, body: 'console.log("from url", 6 * 7)' });

    // Act
    const invocation = await runner({
      WFLO_LANGUAGE: 'javascript',
      WFLO_CODE_URL: `${baseUrl}/code/abc?X-Amz-Signature=s1`,
      WFLO_RESULT_URL: `${baseUrl}/result/abc?X-Amz-Signature=s2`,
    });

    // Assess
    expect(invocation.code).toBe(0);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.url).toBe('/result/abc?X-Amz-Signature=s2');
    expect(puts[0]!.contentType).toBe('application/json');
    expect(parseSandboxResult(JSON.parse(puts[0]!.body))).toMatchObject({
      exitCode: 0,
      stdout: 'from url 42\n',
    });
    // Logs never carry a signature
    expect(invocation.stderr).not.toContain('X-Amz-Signature');
  });

  it('kills the program and its process group at the timeout and reports timedOut', async () => {
    // Prepare: a child sleeper in the program's group, and a spinning parent
    const code =
      'import os\nif os.fork() == 0:\n    os.execv("/bin/sleep", ["sleep", "35.1234567"])\nwhile True: pass';

    // Act
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode(code),
      WFLO_RESULT_FILE: '-',
      WFLO_TIMEOUT_MS: '700',
    });

    // Assess
    expect(invocation.code).toBe(0);
    const result = parseSandboxResult(JSON.parse(invocation.stdout));
    expect(result).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: 137 });
    expect(processesWithArgs('35.1234567')).toEqual([]);
  });

  it('caps output and flags truncation', async () => {
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode('import sys\nsys.stdout.write("z" * 5_000_000)'),
      WFLO_RESULT_FILE: '-',
      WFLO_MAX_OUTPUT_BYTES: '1024',
    });
    const result = parseSandboxResult(JSON.parse(invocation.stdout));
    expect(result).toMatchObject({ exitCode: 0, truncated: true, stdout: 'z'.repeat(1024) });
  });

  it('stops a memory bomb at the memory limit instead of letting it take the task down', async () => {
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode('x = []\nwhile True: x.append(bytearray(8 << 20))'),
      WFLO_RESULT_FILE: '-',
      WFLO_MEMORY_BYTES: String(96 * 1024 * 1024),
    });
    const result = parseSandboxResult(JSON.parse(invocation.stdout));
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('MemoryError');
  });

  it('removes its working directory even when the program locked parts of it', async () => {
    const code =
      'import os\nos.makedirs("locked/deep")\nopen("locked/deep/f", "w").write("x")\nos.chmod("locked/deep", 0)\nos.chmod("locked", 0)';
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode(code),
      WFLO_RESULT_FILE: '-',
    });
    expect(parseSandboxResult(JSON.parse(invocation.stdout)).exitCode).toBe(0);
    // (afterEach: the work root is empty)
  });

  it('delivers a failure result when the code URL cannot be read', async () => {
    // Act
    const resultPath = join(dir, 'missing-code.json');
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_URL: `${baseUrl}/code/missing?X-Amz-Signature=s`,
      WFLO_RESULT_FILE: resultPath,
    });

    // Assess
    expect(invocation.code).toBe(0);
    const result = await resultFile(resultPath);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toBe(`wflo sandbox: GET ${baseUrl}/code/missing?<redacted> answered 404\n`);
  });

  it('exits 1 when the result cannot be delivered', async () => {
    putStatus = 403;
    const invocation = await runner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode('print(1)'),
      WFLO_RESULT_URL: `${baseUrl}/result/x?X-Amz-Signature=s`,
    });
    expect(invocation.code).toBe(1);
    expect(invocation.stderr).toContain('result not delivered: PUT');
    expect(invocation.stderr).toContain('answered 403');
  });

  it('exits 2 on an invalid invocation and writes no result', async () => {
    const resultPath = join(dir, 'never.json');
    const invocation = await runner({ WFLO_LANGUAGE: 'cobol', WFLO_RESULT_FILE: resultPath });
    expect(invocation.code).toBe(2);
    expect(JSON.parse(invocation.stderr.trim())).toMatchObject({
      level: 'ERROR',
      message: expect.stringContaining('WFLO_LANGUAGE: must be one of python, javascript'),
    });
    expect(existsSync(resultPath)).toBe(false);
  });

  it('on SIGTERM kills the program, still delivers the result and exits', async () => {
    // Prepare
    const { child, done } = startRunner({
      WFLO_LANGUAGE: 'python',
      WFLO_CODE_GZ_B64: encodeInlineCode('import os\nos.execv("/bin/sleep", ["sleep", "36.7654321"])'),
      WFLO_RESULT_FILE: '-',
    });
    await waitFor(() => processesWithArgs('36.7654321').length > 0);

    // Act
    child.kill('SIGTERM');
    const invocation = await done;

    // Assess
    expect(invocation.code).toBe(0);
    expect(parseSandboxResult(JSON.parse(invocation.stdout))).toMatchObject({
      signal: 'SIGKILL',
      timedOut: false,
    });
    expect(processesWithArgs('36.7654321')).toEqual([]);
  });
});
