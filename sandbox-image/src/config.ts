import type { SandboxLanguage, SandboxLimits } from './contract.ts';
import { isLanguage, LANGUAGES } from './core/interpreter.ts';
import { InvalidLimitsError, resolveLimits } from './core/limits.ts';

/** Where the program comes from. */
export type CodeSource =
  | { readonly kind: 'inline'; readonly gzB64: string }
  | { readonly kind: 'url'; readonly url: string };

/** Where the result goes; a file path of `-` means the runner's stdout. */
export type ResultTarget =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'file'; readonly path: string };

/** Everything one runner invocation needs, validated. */
export interface RunnerConfig {
  readonly language: SandboxLanguage;
  readonly code: CodeSource;
  readonly result: ResultTarget;
  readonly timeoutMs: number;
  readonly limits: SandboxLimits;
  /** Directory under which the fresh working directory is made. */
  readonly workRoot: string;
  /**
   * The runner has a PID namespace to itself (a container), so after a run it may kill every process
   * it can signal (`kill(-1)`), catching programs that left their process group. Never set it on a
   * shared host: there, that would be every process of the user.
   */
  readonly privatePidNamespace: boolean;
}

/** Names of the settings, as environment variables; the same names lower-cased with dashes are flags. */
export const RUNNER_SETTINGS = [
  'WFLO_LANGUAGE',
  'WFLO_CODE_GZ_B64',
  'WFLO_CODE_URL',
  'WFLO_RESULT_URL',
  'WFLO_RESULT_FILE',
  'WFLO_TIMEOUT_MS',
  'WFLO_MEMORY_BYTES',
  'WFLO_MAX_PROCESSES',
  'WFLO_MAX_FILE_BYTES',
  'WFLO_MAX_OUTPUT_BYTES',
  'WFLO_WORK_ROOT',
  'WFLO_PRIVATE_PID_NAMESPACE',
] as const;
type Setting = (typeof RUNNER_SETTINGS)[number];

/** The runner's invocation is wrong; it cannot even report a result. */
export class RunnerConfigError extends Error {
  override name = 'RunnerConfigError';
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid runner configuration: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

/** `WFLO_CODE_URL` ↔ `--code-url`. */
export const flagName = (setting: Setting): string =>
  `--${setting
    .replace(/^WFLO_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;

/**
 * Reads settings from `--flag value` / `--flag=value` arguments over the environment (flags win).
 * @throws RunnerConfigError on an unknown flag or one without a value.
 */
export function readSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Partial<Record<Setting, string>> {
  const byFlag = new Map(RUNNER_SETTINGS.map((s) => [flagName(s), s] as const));
  const out: Partial<Record<Setting, string>> = {};
  for (const s of RUNNER_SETTINGS) {
    const v = env[s];
    if (v !== undefined && v !== '') out[s] = v;
  }
  const issues: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(flag);
    if (setting === undefined) {
      issues.push(`unknown argument ${flag}`);
      continue;
    }
    // `--flag --other` is a missing value, not a value of "--other".
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[i + 1]?.startsWith('--') ? undefined : argv[++i];
    if (value === undefined || value === '') issues.push(`${flag} needs a value`);
    else out[setting] = value;
  }
  if (issues.length > 0) throw new RunnerConfigError(issues);
  return out;
}

const HTTP_URL = /^https?:\/\/[^\s]+$/;

/**
 * Validates the runner's settings into a `RunnerConfig`: exactly one code source, exactly one result
 * target, a known language, limits in range.
 * @throws RunnerConfigError listing every problem.
 */
export function parseRunnerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): RunnerConfig {
  const s = readSettings(argv, env);
  const issues: string[] = [];

  const language: SandboxLanguage | undefined = isLanguage(s.WFLO_LANGUAGE) ? s.WFLO_LANGUAGE : undefined;
  if (language === undefined) issues.push(`WFLO_LANGUAGE: must be one of ${LANGUAGES.join(', ')}`);

  let code: CodeSource | undefined;
  if ((s.WFLO_CODE_GZ_B64 === undefined) === (s.WFLO_CODE_URL === undefined)) {
    issues.push('exactly one of WFLO_CODE_GZ_B64 and WFLO_CODE_URL must be set');
  } else if (s.WFLO_CODE_URL !== undefined) {
    if (HTTP_URL.test(s.WFLO_CODE_URL)) code = { kind: 'url', url: s.WFLO_CODE_URL };
    else issues.push('WFLO_CODE_URL: must be an http(s) URL');
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(s.WFLO_CODE_GZ_B64!)) {
    code = { kind: 'inline', gzB64: s.WFLO_CODE_GZ_B64! };
  } else {
    issues.push('WFLO_CODE_GZ_B64: must be base64');
  }

  let result: ResultTarget | undefined;
  if ((s.WFLO_RESULT_URL === undefined) === (s.WFLO_RESULT_FILE === undefined)) {
    issues.push('exactly one of WFLO_RESULT_URL and WFLO_RESULT_FILE must be set');
  } else if (s.WFLO_RESULT_URL !== undefined) {
    if (HTTP_URL.test(s.WFLO_RESULT_URL)) result = { kind: 'url', url: s.WFLO_RESULT_URL };
    else issues.push('WFLO_RESULT_URL: must be an http(s) URL');
  } else {
    result = { kind: 'file', path: s.WFLO_RESULT_FILE! };
  }

  const int = (setting: Setting): number | undefined => {
    const raw = s[setting];
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) {
      issues.push(`${setting}: must be a whole number`);
      return undefined;
    }
    return Number(raw);
  };
  const timeoutMs = int('WFLO_TIMEOUT_MS') ?? 30_000;
  const requested = {
    memoryBytes: int('WFLO_MEMORY_BYTES'),
    maxProcesses: int('WFLO_MAX_PROCESSES'),
    maxFileBytes: int('WFLO_MAX_FILE_BYTES'),
    maxOutputBytes: int('WFLO_MAX_OUTPUT_BYTES'),
  };

  const pidNs = s.WFLO_PRIVATE_PID_NAMESPACE ?? '0';
  if (!['0', '1', 'true', 'false'].includes(pidNs)) issues.push('WFLO_PRIVATE_PID_NAMESPACE: must be 0 or 1');

  let limits: SandboxLimits | undefined;
  if (language !== undefined) {
    try {
      limits = resolveLimits({ language, timeoutMs, limits: requested });
    } catch (error) {
      if (!(error instanceof InvalidLimitsError)) throw error;
      issues.push(...error.issues);
    }
  }

  if (issues.length > 0 || !language || !code || !result || !limits) throw new RunnerConfigError(issues);
  return {
    language,
    code,
    result,
    timeoutMs,
    limits,
    workRoot: s.WFLO_WORK_ROOT ?? '/tmp',
    privatePidNamespace: pidNs === '1' || pidNs === 'true',
  };
}

/** A URL with its query string (a presigned URL's signature) replaced, fit for logs. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?<redacted>`;
}
