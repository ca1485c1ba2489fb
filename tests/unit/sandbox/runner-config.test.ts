import { describe, expect, it } from 'vitest';
import {
  flagName,
  parseRunnerConfig,
  RunnerConfigError,
  readSettings,
  redactUrl,
} from '../../../sandbox-image/src/config.ts';
import { DEFAULT_LIMITS } from '../../../sandbox-image/src/core/limits.ts';

const inline = {
  WFLO_LANGUAGE: 'python',
  WFLO_CODE_GZ_B64: 'H4sIAAAAAAAAAysoyswr0TBUAAA=',
  WFLO_RESULT_FILE: '/tmp/r.json',
};

/** The issues a configuration error lists (fails the test if nothing was thrown). */
function issuesOf(act: () => unknown): readonly string[] {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(RunnerConfigError);
    return (error as RunnerConfigError).issues;
  }
  throw new Error('expected a RunnerConfigError');
}

describe('Function: parseRunnerConfig', () => {
  it('reads inline code and a result file from the environment with default limits', () => {
    // Act
    const config = parseRunnerConfig([], inline);

    // Assess
    expect(config).toEqual({
      language: 'python',
      code: { kind: 'inline', gzB64: inline.WFLO_CODE_GZ_B64 },
      result: { kind: 'file', path: '/tmp/r.json' },
      timeoutMs: 30_000,
      limits: { ...DEFAULT_LIMITS, cpuSeconds: 31 },
      workRoot: '/tmp',
      privatePidNamespace: false,
    });
  });

  it('reads presigned URLs, limits and the PID-namespace switch', () => {
    const config = parseRunnerConfig([], {
      WFLO_LANGUAGE: 'javascript',
      WFLO_CODE_URL: 'https://bucket.s3.amazonaws.com/code?X-Amz-Signature=abc',
      WFLO_RESULT_URL: 'https://bucket.s3.amazonaws.com/result?X-Amz-Signature=def',
      WFLO_TIMEOUT_MS: '5000',
      WFLO_MEMORY_BYTES: String(256 * 1024 * 1024),
      WFLO_MAX_OUTPUT_BYTES: '2048',
      WFLO_PRIVATE_PID_NAMESPACE: '1',
      WFLO_WORK_ROOT: '/scratch',
    });
    expect(config.code).toEqual({
      kind: 'url',
      url: 'https://bucket.s3.amazonaws.com/code?X-Amz-Signature=abc',
    });
    expect(config.result.kind).toBe('url');
    expect(config.timeoutMs).toBe(5000);
    expect(config.limits).toMatchObject({
      memoryBytes: 256 * 1024 * 1024,
      maxOutputBytes: 2048,
      cpuSeconds: 6,
    });
    expect(config.privatePidNamespace).toBe(true);
    expect(config.workRoot).toBe('/scratch');
  });

  it('lets flags override the environment', () => {
    const config = parseRunnerConfig(['--language', 'javascript', '--result-file=-'], inline);
    expect(config.language).toBe('javascript');
    expect(config.result).toEqual({ kind: 'file', path: '-' });
  });

  it('requires exactly one code source and exactly one result target', () => {
    expect(issuesOf(() => parseRunnerConfig([], { WFLO_LANGUAGE: 'python' }))).toEqual([
      'exactly one of WFLO_CODE_GZ_B64 and WFLO_CODE_URL must be set',
      'exactly one of WFLO_RESULT_URL and WFLO_RESULT_FILE must be set',
    ]);
    const both = { ...inline, WFLO_CODE_URL: 'https://x/y', WFLO_RESULT_URL: 'https://x/z' };
    expect(issuesOf(() => parseRunnerConfig([], both))).toHaveLength(2);
  });

  it('lists every problem at once', () => {
    const issues = issuesOf(() =>
      parseRunnerConfig([], {
        WFLO_LANGUAGE: 'ruby',
        WFLO_CODE_URL: 'file:///etc/passwd',
        WFLO_RESULT_URL: 'ftp://x',
        WFLO_TIMEOUT_MS: '1e3',
        WFLO_PRIVATE_PID_NAMESPACE: 'yes',
      }),
    );
    expect(issues).toEqual([
      'WFLO_LANGUAGE: must be one of python, javascript',
      'WFLO_CODE_URL: must be an http(s) URL',
      'WFLO_RESULT_URL: must be an http(s) URL',
      'WFLO_TIMEOUT_MS: must be a whole number',
      'WFLO_PRIVATE_PID_NAMESPACE: must be 0 or 1',
    ]);
  });

  it('rejects limits out of range with the limit named', () => {
    expect(issuesOf(() => parseRunnerConfig([], { ...inline, WFLO_TIMEOUT_MS: '99999999' }))).toEqual([
      expect.stringMatching(/^timeoutMs/),
      expect.stringMatching(/^limits\.cpuSeconds/),
    ]);
  });

  it('rejects inline code that is not base64', () => {
    expect(issuesOf(() => parseRunnerConfig([], { ...inline, WFLO_CODE_GZ_B64: 'not base64!' }))).toEqual([
      'WFLO_CODE_GZ_B64: must be base64',
    ]);
  });
});

describe('Function: readSettings', () => {
  it('rejects unknown flags and flags without a value', () => {
    expect(issuesOf(() => readSettings(['--bogus=1', '--language', '--timeout-ms', '5'], {}))).toEqual([
      'unknown argument --bogus',
      '--language needs a value',
    ]);
  });

  it('ignores empty environment values', () => {
    expect(readSettings([], { WFLO_CODE_URL: '', WFLO_LANGUAGE: 'python' })).toEqual({
      WFLO_LANGUAGE: 'python',
    });
  });

  it('maps setting names to flags', () => {
    expect(flagName('WFLO_CODE_GZ_B64')).toBe('--code-gz-b64');
  });
});

describe('Function: redactUrl', () => {
  it('hides the query string that carries a presigned signature', () => {
    expect(redactUrl('https://b.s3.amazonaws.com/k?X-Amz-Signature=secret')).toBe(
      'https://b.s3.amazonaws.com/k?<redacted>',
    );
    expect(redactUrl('https://b/k')).toBe('https://b/k');
  });
});
