import { describe, expect, it } from 'vitest';
import { SANDBOX_LANGUAGES } from '../../../functions/shared/ports/sandbox.ts';
import {
  CHILD_PATH,
  childEnv,
  codeFileName,
  findExecutable,
  interpreterArgv,
  isLanguage,
  LANGUAGES,
} from '../../../sandbox-image/src/core/interpreter.ts';

const interpreters = { python: '/usr/bin/python3', node: '/usr/local/bin/node' };

describe('Module: interpreter', () => {
  it('knows exactly the languages of the port', () => {
    expect([...LANGUAGES].sort()).toEqual([...SANDBOX_LANGUAGES].sort());
    expect(isLanguage('python')).toBe(true);
    expect(isLanguage('ruby')).toBe(false);
    expect(isLanguage('__proto__')).toBe(false);
  });

  it('runs Python isolated, unbuffered and without writing bytecode', () => {
    expect(interpreterArgv('python', '/tmp/code/main.py', { memoryBytes: 1 << 29 }, interpreters)).toEqual([
      '/usr/bin/python3',
      '-I',
      '-B',
      '-u',
      '/tmp/code/main.py',
    ]);
  });

  it('caps the Node heap at the memory limit', () => {
    expect(
      interpreterArgv('javascript', '/x/main.js', { memoryBytes: 256 * 1024 * 1024 }, interpreters),
    ).toEqual(['/usr/local/bin/node', '--max-old-space-size=256', '/x/main.js']);
  });

  it('names the code file so Node detects CommonJS or ESM', () => {
    expect(codeFileName('python')).toBe('main.py');
    expect(codeFileName('javascript')).toBe('main.js');
  });

  it('gives the child an explicit minimal environment with no variable of the parent', () => {
    // Prepare
    process.env.WFLO_TEST_SECRET = 'do-not-leak';

    // Act
    const env = childEnv('/tmp/work');

    // Assess
    expect(env).toEqual({
      PATH: CHILD_PATH,
      HOME: '/tmp/work',
      TMPDIR: '/tmp',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
    });
    delete process.env.WFLO_TEST_SECRET;
  });

  it('looks interpreters up in system directories only, not the caller PATH', () => {
    expect(CHILD_PATH).toBe('/usr/local/bin:/usr/bin:/bin');
    expect(findExecutable('sh')).toMatch(/^\/(usr\/)?bin\/sh$/);
    expect(findExecutable('definitely-not-a-program-wflo')).toBeUndefined();
  });
});
