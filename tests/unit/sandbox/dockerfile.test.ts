import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const imageDir = join(root, 'sandbox-image');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the FROM stage it belongs to. */
  readonly stage: number;
}

/**
 * A small Dockerfile reader: joins `\` continuations, drops comment lines (also inside a continued RUN,
 * as Docker does), and splits each instruction into keyword and arguments.
 */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  let stage = -1;
  return logical.map((l) => {
    const [keyword = '', ...rest] = l.split(/\s+/);
    if (keyword.toUpperCase() === 'FROM') stage++;
    return { keyword: keyword.toUpperCase(), args: rest.join(' '), stage };
  });
}

const instructions = parseDockerfile(readFileSync(join(imageDir, 'Dockerfile'), 'utf8'));
const lastStage = Math.max(...instructions.map((i) => i.stage));
const final = instructions.filter((i) => i.stage === lastStage);
const finalRun = final
  .filter((i) => i.keyword === 'RUN')
  .map((i) => i.args)
  .join('\n');
const all = (keyword: string, list = instructions) => list.filter((i) => i.keyword === keyword);

describe('File: sandbox-image/Dockerfile', () => {
  it('is multi-stage: the runner is bundled in a build stage and only its output copied on', () => {
    // Assess
    const froms = all('FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]!.args).toMatch(/ AS build$/i);
    const copies = all('COPY', final);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.args).toMatch(/^--from=build .*\/runner\.mjs \/opt\/wflo\/runner\.mjs$/);
    expect(copies[0]!.args).toContain('--chmod=0444');
  });

  it('starts from a slim Node base and installs only Python 3 on top, without recommends', () => {
    const nodeImage = all('ARG').find((i) => i.args.startsWith('NODE_IMAGE='));
    expect(nodeImage?.args).toMatch(/^NODE_IMAGE=node:\d+-[a-z]+-slim/);
    expect(all('FROM', final)[0]!.args).toMatch(/^\$\{NODE_IMAGE\} AS runtime$/);
    const installs = [...finalRun.matchAll(/apt-get install ([^;&]+)/g)].map((m) => m[1]!.trim());
    expect(installs).toEqual(['-y --no-install-recommends python3']);
  });

  it('removes every package manager in the final stage: npm, npx, corepack, yarn, pip, apt, dpkg', () => {
    for (const path of [
      '/usr/local/lib/node_modules',
      '/usr/local/bin/npm',
      '/usr/local/bin/npx',
      '/usr/local/bin/corepack',
      '/usr/local/bin/yarn',
      '/usr/lib/python3*/ensurepip',
      '/usr/bin/pip',
      '/usr/bin/apt-get',
      '/usr/bin/apt ',
      '/usr/bin/dpkg ',
    ]) {
      expect(finalRun, path).toContain(path);
    }
    // ...after the one apt-get install that needed them
    expect(finalRun.indexOf('rm -f /usr/bin/apt')).toBeGreaterThan(finalRun.indexOf('apt-get install'));
  });

  it('fails the build if a compiler or build tool is present, and installs none', () => {
    expect(finalRun).toMatch(/for tool in gcc cc c\+\+ g\+\+ clang make ld as; do/);
    expect(finalRun).toMatch(/exit 1/);
    // The only install in the final stage is python3 (checked above); no other installer runs there.
    expect(finalRun).not.toMatch(/build-essential|npm install|pip3? install|apk add|curl |wget /);
  });

  it('strips set-uid and set-gid bits', () => {
    expect(finalRun).toContain('find / -xdev -type f -perm /6000 -exec chmod a-s {} +');
  });

  it('runs as a numeric non-root user, set after the last RUN', () => {
    const users = all('USER', final);
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.args.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const lastRun = final.map((i) => i.keyword).lastIndexOf('RUN');
    expect(final.indexOf(users[0]!)).toBeGreaterThan(lastRun);
  });

  it('declares HEALTHCHECK NONE', () => {
    expect(all('HEALTHCHECK', final).map((i) => i.args)).toEqual(['NONE']);
  });

  it('is read-only-root compatible: home, temp, working and run directories are /tmp, no VOLUME', () => {
    const env = all('ENV', final)
      .map((i) => i.args)
      .join(' ');
    expect(env).toMatch(/\bHOME=\/tmp\b/);
    expect(env).toMatch(/\bTMPDIR=\/tmp\b/);
    expect(env).toMatch(/\bWFLO_WORK_ROOT=\/tmp\b/);
    expect(env).toMatch(/\bPYTHONDONTWRITEBYTECODE=1\b/);
    expect(all('WORKDIR', final).map((i) => i.args)).toEqual(['/tmp']);
    expect(all('VOLUME')).toHaveLength(0);
  });

  it('puts no secret in the image environment and fetches nothing with ADD', () => {
    const env = all('ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).not.toMatch(/AWS_|SECRET|TOKEN|PASSWORD|KEY=/i);
    expect(all('ADD')).toHaveLength(0);
  });

  it('runs the bundled runner in exec form with an absolute interpreter path', () => {
    const entrypoints = all('ENTRYPOINT', final);
    expect(entrypoints).toHaveLength(1);
    expect(JSON.parse(entrypoints[0]!.args)).toEqual(['/usr/local/bin/node', '/opt/wflo/runner.mjs']);
    expect(all('CMD', final)).toHaveLength(0);
  });

  it('pins esbuild to the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const arg = all('ARG').find((i) => i.args.startsWith('ESBUILD_VERSION='));
    expect(arg?.args).toBe(`ESBUILD_VERSION=${pkg.devDependencies.esbuild}`);
  });

  it('copies only paths that exist in the build context and that .dockerignore lets through', () => {
    // Prepare
    const ignore = readFileSync(join(imageDir, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));

    // Act
    const sources = all('COPY')
      .filter((i) => !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));

    // Assess
    expect(ignore[0]).toBe('*');
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      const clean = source.replace(/\/$/, '').replace(/^\.\//, '');
      expect(existsSync(join(imageDir, clean)), clean).toBe(true);
      expect(allowed, clean).toContain(clean);
    }
  });
});
