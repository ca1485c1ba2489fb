import { describe, expect, it } from 'vitest';
import { type PathProbe, systemMounts } from '../../../infra/local/engine/sandbox/mounts.ts';

/** A host: usr-merged (bin, lib, lib64 are symlinks), an /etc with the loader cache and certs. */
const usrMerged: PathProbe = (path) =>
  ({
    '/usr': { kind: 'dir' as const },
    '/bin': { kind: 'symlink' as const, target: 'usr/bin' },
    '/sbin': { kind: 'symlink' as const, target: 'usr/sbin' },
    '/lib': { kind: 'symlink' as const, target: 'usr/lib' },
    '/lib64': { kind: 'symlink' as const, target: 'usr/lib64' },
    '/etc/ld.so.cache': { kind: 'file' as const },
    '/etc/ssl': { kind: 'dir' as const },
  })[path];

describe('Function: systemMounts', () => {
  it('binds /usr and what exists of /etc read-only, keeps usr-merge symlinks, and nothing else', () => {
    // Act
    const mounts = systemMounts(
      ['/usr/bin/python3.11', '/usr/bin/node', '/usr/bin/prlimit'],
      '/root',
      usrMerged,
    );

    // Assess
    expect(mounts).toEqual([
      { kind: 'ro-bind', path: '/usr' },
      { kind: 'symlink', path: '/bin', target: 'usr/bin' },
      { kind: 'symlink', path: '/sbin', target: 'usr/sbin' },
      { kind: 'symlink', path: '/lib', target: 'usr/lib' },
      { kind: 'symlink', path: '/lib64', target: 'usr/lib64' },
      { kind: 'ro-bind', path: '/etc/ld.so.cache' },
      { kind: 'ro-bind', path: '/etc/ssl' },
    ]);
  });

  it('adds the installation prefix of an interpreter outside the system directories, never the home directory', () => {
    // Act
    const mounts = systemMounts(
      ['/home/dev/.nvm/versions/node/v22.1.0/bin/node', '/home/dev/bin/python3', '/opt/py/3.12/bin/python3'],
      '/home/dev',
      usrMerged,
    );

    // Assess
    expect(mounts.slice(7)).toEqual([
      { kind: 'ro-bind', path: '/home/dev/.nvm/versions/node/v22.1.0' },
      { kind: 'ro-bind', path: '/home/dev/bin/python3' },
      { kind: 'ro-bind', path: '/opt/py/3.12' },
    ]);
  });
});
