import { describe, expect, it } from 'vitest';
import { bwrapArgs, revealedPaths, SANDBOX_WORK_DIR } from '../../../infra/local/engine/sandbox/bwrap.ts';
import { resolveLimits } from '../../../sandbox-image/src/core/limits.ts';
import { prlimitArgs } from '../../../sandbox-image/src/core/prlimit.ts';

const base = {
  features: { size: true, disableUserns: true },
  hostCodePath: '/tmp/wflo-sandbox/run-1/main.py',
  sandboxCodePath: '/tmp/code/main.py',
  mounts: [
    { kind: 'ro-bind', path: '/usr' },
    { kind: 'symlink', path: '/bin', target: 'usr/bin' },
    { kind: 'ro-bind', path: '/etc/ld.so.cache' },
  ] as const,
  tmpBytes: 1024,
  env: { PATH: '/usr/bin', HOME: '/tmp/work' },
  infoFd: 3,
  seccompFd: 4,
  command: ['/usr/bin/prlimit', '--', '/usr/bin/python3', '/tmp/code/main.py'],
};

/** The value following `flag` each time it occurs. */
const valuesOf = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe('Function: bwrapArgs', () => {
  it('unshares every namespace, drops capabilities and pins the sandbox uid/gid', () => {
    // Act
    const args = bwrapArgs(base);

    // Assess
    for (const flag of [
      '--unshare-all',
      '--unshare-user',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
    ]) {
      expect(args).toContain(flag);
    }
    expect(args).not.toContain('--share-net');
    expect(valuesOf(args, '--uid')).toEqual(['65534']);
    expect(valuesOf(args, '--gid')).toEqual(['65534']);
    expect(valuesOf(args, '--cap-drop')).toEqual(['ALL']);
    expect(args).toContain('--disable-userns');
  });

  it('builds the root from the allowlist only, read-only, with private /dev, /proc and /tmp', () => {
    // Act
    const args = bwrapArgs(base);

    // Assess: no bind of the host root or of anything writable; the root goes read-only last
    expect(valuesOf(args, '--ro-bind')).toEqual(['/usr', '/etc/ld.so.cache', '/dev/null', base.hostCodePath]);
    expect(args.slice(args.indexOf('--symlink'), args.indexOf('--symlink') + 3)).toEqual([
      '--symlink',
      'usr/bin',
      '/bin',
    ]);
    expect(args).not.toContain('--bind');
    expect(valuesOf(args, '--dev')).toEqual(['/dev']);
    expect(valuesOf(args, '--remount-ro')).toEqual(['/dev', '/']);
    expect(args.indexOf('--remount-ro', args.indexOf('--tmpfs'))).toBeGreaterThan(
      args.indexOf(base.sandboxCodePath),
    );
    expect(valuesOf(args, '--proc')).toEqual(['/proc']);
    expect(valuesOf(args, '--size')).toEqual(['1024']);
    expect(args[args.indexOf('--size') + 2]).toBe('--tmpfs');
    expect(args[args.indexOf('--size') + 3]).toBe('/tmp');
  });

  it('hides /proc/keys and passes the seccomp filter descriptor', () => {
    const args = bwrapArgs(base);
    const at = args.indexOf('/proc/keys');
    expect(args.slice(at - 2, at + 1)).toEqual(['--ro-bind', '/dev/null', '/proc/keys']);
    expect(at).toBeGreaterThan(args.indexOf('--proc'));
    expect(valuesOf(args, '--seccomp')).toEqual(['4']);
    expect(args.indexOf('--seccomp')).toBeLessThan(args.indexOf('--'));
    expect(bwrapArgs({ ...base, hideProcKeys: false })).not.toContain('/proc/keys');
  });

  it('binds only the program file read-only and runs in the private work directory', () => {
    const args = bwrapArgs(base);
    const at = args.lastIndexOf('--ro-bind');
    expect(args.slice(at, at + 3)).toEqual(['--ro-bind', base.hostCodePath, base.sandboxCodePath]);
    expect(valuesOf(args, '--chdir')).toEqual([SANDBOX_WORK_DIR]);
  });

  it('sets exactly the given environment after clearing it', () => {
    const args = bwrapArgs(base);
    const setenv = args.flatMap((a, i) => (a === '--setenv' ? [`${args[i + 1]}=${args[i + 2]}`] : []));
    expect(setenv).toEqual(['PATH=/usr/bin', 'HOME=/tmp/work']);
    expect(args.indexOf('--clearenv')).toBeLessThan(args.indexOf('--setenv'));
  });

  it('ends with the command after --', () => {
    const args = bwrapArgs(base);
    expect(args.slice(args.indexOf('--') + 1)).toEqual(base.command);
    expect(valuesOf(args, '--info-fd')).toEqual(['3']);
  });

  it('leaves out flags an older bubblewrap does not know', () => {
    const args = bwrapArgs({ ...base, features: { size: false, disableUserns: false } });
    expect(args).not.toContain('--size');
    expect(args).not.toContain('--disable-userns');
    expect(valuesOf(args, '--tmpfs')).toContain('/tmp');
  });
});

describe('Function: revealedPaths', () => {
  it('binds back the installation prefix of an interpreter under a masked path', () => {
    expect(
      revealedPaths(['/home/dev/.nvm/versions/node/v22.1.0/bin/node'], ['/home', '/root'], '/home/dev'),
    ).toEqual(['/home/dev/.nvm/versions/node/v22.1.0']);
  });

  it('binds only the file when the prefix would expose the home directory or the whole mask', () => {
    // ~/bin/node: the prefix would be the home directory itself
    expect(revealedPaths(['/home/dev/bin/node'], ['/home'], '/home/dev')).toEqual(['/home/dev/bin/node']);
    // /opt/bin/node: the prefix would be the masked /opt
    expect(revealedPaths(['/opt/bin/node'], ['/opt'], '/root')).toEqual(['/opt/bin/node']);
  });

  it('reveals nothing for executables outside masked paths and nothing twice', () => {
    expect(revealedPaths(['/usr/bin/python3', '/usr/bin/node'], ['/home'], '/home/dev')).toEqual([]);
    expect(
      revealedPaths(['/srv/py/3.12/bin/python3', '/srv/py/3.12/bin/python3.12'], ['/srv'], '/root'),
    ).toEqual(['/srv/py/3.12']);
  });
});

describe('Function: prlimitArgs', () => {
  it('sets CPU, address space, process, file size, core and open-file limits before the command', () => {
    // Prepare
    const limits = resolveLimits({ language: 'python', timeoutMs: 3_000, limits: { maxProcesses: 7 } });

    // Act
    const args = prlimitArgs('/usr/bin/prlimit', limits, 12345);

    // Assess
    expect(args).toEqual([
      '/usr/bin/prlimit',
      '--cpu=4',
      '--as=12345',
      '--nproc=7',
      `--fsize=${limits.maxFileBytes}`,
      '--core=0',
      '--nofile=256',
      '--',
    ]);
  });
});
