import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLanguage, SandboxLimits } from '../contract.ts';

/**
 * Where interpreters are looked up. Deliberately not the caller's PATH: a version manager's shim
 * under a home directory is neither reachable from inside the sandbox nor something to trust.
 */
export const SYSTEM_BIN_DIRS = ['/usr/local/bin', '/usr/bin', '/bin'] as const;

/** The PATH the untrusted program sees. */
export const CHILD_PATH = SYSTEM_BIN_DIRS.join(':');

/** Absolute paths of the interpreters a run uses. */
export interface Interpreters {
  readonly python: string;
  readonly node: string;
}

/** `path` if it names an executable file, else undefined. */
export function isExecutable(path: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}

/** The first executable `name` in `dirs`, or undefined. */
export function findExecutable(name: string, dirs: readonly string[] = SYSTEM_BIN_DIRS): string | undefined {
  for (const dir of dirs) {
    const found = isExecutable(join(dir, name));
    if (found) return found;
  }
  return undefined;
}

/** The file the program is written to, by language (`.js` lets Node detect CommonJS or ESM syntax). */
const CODE_FILE: Record<SandboxLanguage, string> = { python: 'main.py', javascript: 'main.js' };

/** The languages the runner knows (the keys of a record typed by the port's union, so none is missed). */
export const LANGUAGES = Object.keys(CODE_FILE) as readonly SandboxLanguage[];

/** Narrows untrusted input to a language. */
export function isLanguage(value: unknown): value is SandboxLanguage {
  return typeof value === 'string' && Object.hasOwn(CODE_FILE, value);
}

export function codeFileName(language: SandboxLanguage): string {
  return CODE_FILE[language];
}

/**
 * The argv that runs `codePath`: Python isolated from PYTHON* variables and user site-packages,
 * unbuffered (so output before a timeout kill is not lost) and writing no bytecode; Node with its heap
 * capped at the memory limit, so it fails with a clear out-of-memory error before RLIMIT_AS does.
 */
export function interpreterArgv(
  language: SandboxLanguage,
  codePath: string,
  limits: Pick<SandboxLimits, 'memoryBytes'>,
  interpreters: Interpreters,
): string[] {
  if (language === 'python') return [interpreters.python, '-I', '-B', '-u', codePath];
  const heapMiB = Math.max(16, Math.floor(limits.memoryBytes / (1024 * 1024)));
  return [interpreters.node, `--max-old-space-size=${heapMiB}`, codePath];
}

/** The complete environment of the untrusted program: nothing inherited, nothing secret. */
export function childEnv(home: string): Record<string, string> {
  return {
    PATH: CHILD_PATH,
    HOME: home,
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
  };
}
