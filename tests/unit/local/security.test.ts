import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { allowedHostHeaders, isLoopback, remoteAccess } from '../../../infra/local/cli/security.ts';

describe('Function: isLoopback', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1'])(
    '%s is loopback',
    (host) => expect(isLoopback(host)).toBe(true),
  );
  it.each([
    '0.0.0.0',
    '::',
    '192.168.1.5',
    'example.com',
    'localhost.example.com',
    '128.0.0.1',
    '::ffff:10.0.0.1',
  ])('%s is not', (host) => expect(isLoopback(host)).toBe(false));
});

describe('Function: allowedHostHeaders', () => {
  it('a loopback bind answers to its loopback names on its port only', () => {
    expect([...allowedHostHeaders('127.0.0.1', 3000)].sort()).toEqual([
      '127.0.0.1:3000',
      '[::1]:3000',
      'localhost:3000',
    ]);
  });

  it('an explicit non-loopback bind adds that address (IPv6 in brackets)', () => {
    expect(allowedHostHeaders('192.168.1.5', 8080)).toContain('192.168.1.5:8080');
    expect(allowedHostHeaders('fd00::5', 8080)).toContain('[fd00::5]:8080');
    expect(allowedHostHeaders('192.168.1.5', 8080)).not.toContain('192.168.1.6:8080');
  });

  it('a wildcard bind answers to every address of this machine', () => {
    const allowed = allowedHostHeaders('0.0.0.0', 3000);
    const v4 = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a?.family === 'IPv4')
      .map((a) => `${a!.address}:3000`);
    for (const a of v4) expect(allowed).toContain(a);
    expect(allowed).not.toContain('attacker.example:3000');
  });

  it('port 80 may be left out of Host, as clients do', () => {
    expect(allowedHostHeaders('127.0.0.1', 80)).toContain('localhost');
    expect(allowedHostHeaders('127.0.0.1', 3000)).not.toContain('localhost');
  });
});

describe('Function: remoteAccess', () => {
  it('loopback needs no flag and makes no token; a configured one is still required', () => {
    expect(remoteAccess({ host: '127.0.0.1', allowRemote: false, configuredToken: undefined })).toEqual({
      ok: true,
      token: undefined,
      generated: false,
    });
    expect(
      remoteAccess({ host: 'localhost', allowRemote: false, configuredToken: 't'.repeat(20) }),
    ).toMatchObject({
      ok: true,
      token: 't'.repeat(20),
    });
  });

  it.each(['0.0.0.0', '::', '192.168.1.5'])(
    'binding %s without --allow-remote is refused, naming the flag',
    (host) => {
      const access = remoteAccess({ host, allowRemote: false, configuredToken: 't'.repeat(20) });
      expect(access.ok).toBe(false);
      expect(!access.ok && access.reason).toMatch(/--allow-remote/);
    },
  );

  it('with --allow-remote: the configured token, else a fresh random one each start', () => {
    expect(remoteAccess({ host: '0.0.0.0', allowRemote: true, configuredToken: 't'.repeat(20) })).toEqual({
      ok: true,
      token: 't'.repeat(20),
      generated: false,
    });
    const a = remoteAccess({ host: '0.0.0.0', allowRemote: true, configuredToken: undefined });
    const b = remoteAccess({ host: '0.0.0.0', allowRemote: true, configuredToken: undefined });
    expect(a).toMatchObject({
      ok: true,
      generated: true,
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(a.ok && b.ok && a.token !== b.token).toBe(true);
  });
});
