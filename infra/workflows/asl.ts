import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The ASL document model both targets read, and the walkers over it. Plain TypeScript: imported by the CDK app,
 * the local engine and the tests, never by a Lambda bundle.
 */

/** Any state with a name, as found while walking a definition. */
export interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Arguments?: Record<string, unknown>;
  Retry?: Retrier[];
  Catch?: Catcher[];
  Next?: string;
  Default?: string;
  Choices?: { Next?: string; [key: string]: unknown }[];
  TimeoutSeconds?: number;
  Iterator?: AslDefinition;
  ItemProcessor?: AslDefinition;
  Branches?: AslDefinition[];
  [key: string]: unknown;
}
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  Comment?: string;
  TimeoutSeconds?: number;
  [key: string]: unknown;
}
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}
export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

/** The definitions nested in a state: a Map's processor (ItemProcessor, or the older Iterator) and Parallel branches. */
function nestedDefinitions(state: AslState): AslDefinition[] {
  return [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter(
    (d): d is AslDefinition => d !== undefined,
  );
}

/**
 * Visits every state of a definition, Map processors and Parallel branches included, whether or not a
 * transition reaches it. State names are unique across a whole state machine, so the name identifies the state.
 */
export function walkStates(definition: AslDefinition, visit: (name: string, state: AslState) => void): void {
  for (const [name, state] of Object.entries(definition.States ?? {})) {
    visit(name, state);
    for (const d of nestedDefinitions(state)) walkStates(d, visit);
  }
}

/** The states a state can move to: Next, a Choice's rules and Default, and every Catch target. */
export function transitionsOf(state: AslState): string[] {
  const targets = [
    state.Next,
    state.Default,
    ...(state.Choices ?? []).map((c) => c.Next),
    ...(state.Catch ?? []).map((c) => c.Next),
  ];
  return [...new Set(targets.filter((t): t is string => typeof t === 'string'))];
}

/**
 * The names of the states an execution can enter, following transitions from each definition's StartAt,
 * Catch targets included (a failure handler reached only from a Catch is reachable), and the same inside
 * every Map processor and Parallel branch of a reachable state. In the order first reached.
 */
export function reachableStates(definition: AslDefinition): string[] {
  const seen: string[] = [];
  const visit = (def: AslDefinition): void => {
    const queue = [def.StartAt];
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const state = def.States?.[name];
      if (!state || seen.includes(name)) continue;
      seen.push(name);
      for (const d of nestedDefinitions(state)) visit(d);
      queue.push(...transitionsOf(state));
    }
  };
  visit(definition);
  return seen;
}

interface AslValidationResult {
  isValid: boolean;
  errorsText: (separator?: string) => string;
}
type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => AslValidationResult;
const require = createRequire(import.meta.url);

// asl-validator is CommonJS without type declarations; typed here rather than with a global module declaration.
// Required on the first definition not already known valid (see validateAsl): it loads Ajv and compiles its schema.
let aslValidator: AslValidator | undefined;
function loadAslValidator(): AslValidator {
  if (!aslValidator) {
    aslValidator = require('asl-validator') as AslValidator;
    reuseAslValidatorAjv();
  }
  return aslValidator;
}

interface KeywordRegistry {
  addKeyword(def: unknown): unknown;
  getKeyword(name: string): unknown;
}

/**
 * asl-validator builds a new Ajv and compiles its whole schema on every call (0.2 s idle, seconds on a busy
 * machine): most of what loading a workflow costs, paid again for every file `wflo dev`, `cdk synth` and the
 * conformance runner check. Within a process its Ajv instance is kept for the next call. The result is the
 * same: its schemas and options are the same module constants each call, the formats it adds again are the
 * same functions ({@link validateAsl} always passes the default options), and calls are synchronous, so
 * `ajv.errors` is never shared between two validations. Only asl-validator's own schema set is reused: any
 * other Ajv user in the process gets a new instance as before.
 */
function reuseAslValidatorAjv(): void {
  const fromValidator = createRequire(require.resolve('asl-validator'));
  const ajv = fromValidator('ajv') as { default: new (options: { schemas?: unknown }) => object };
  const Ajv = ajv.default;
  if ((Ajv as { reused?: true }).reused) return;
  // The module object json-schema-errors.js passes first in `schemas` (require's cache makes it the same one).
  const aslSchema: unknown = fromValidator('./schemas/common.json');
  let instance: object | undefined;
  const Reused = function (this: unknown, options: { schemas?: unknown } = {}) {
    const first: unknown = Array.isArray(options.schemas) ? options.schemas[0] : undefined;
    if (first !== aslSchema) return new Ajv(options);
    if (!instance) {
      const created = new Ajv(options) as KeywordRegistry;
      // ajv-formats adds its keywords again on each call; a keyword already there is the same one.
      const add = created.addKeyword.bind(created);
      created.addKeyword = (def: unknown) => {
        const k = typeof def === 'string' ? def : (def as { keyword?: string | string[] }).keyword;
        const names = Array.isArray(k) ? k : [k];
        return names.every((n) => n !== undefined && created.getKeyword(n)) ? created : add(def);
      };
      instance = created;
    }
    return instance;
  } as unknown as typeof Ajv & { reused?: true };
  Object.setPrototypeOf(Reused, Ajv);
  Reused.reused = true;
  ajv.default = Reused;
}

/**
 * Definitions asl-validator accepted before, by content: an empty file per definition under
 * node_modules/.cache/wflo/asl-valid/, named by the SHA-256 of the validator's version and the definition's
 * JSON. A start of `wflo dev` or `cdk synth` on unchanged workflows then loads neither asl-validator nor Ajv
 * (the largest CPU cost of loading workflows). Only acceptances are kept: a rejected definition is validated
 * again, so its errors are always asl-validator's own. No cache (read-only node_modules, no write access): every
 * definition is validated, as before.
 */
const validCache = (() => {
  try {
    const pkg = require.resolve('asl-validator/package.json');
    const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version: string };
    // <root>/node_modules/asl-validator/package.json → <root>/node_modules/.cache/wflo/asl-valid
    return { dir: join(dirname(dirname(pkg)), '.cache', 'wflo', 'asl-valid'), version };
  } catch {
    return undefined;
  }
})();

/** Where definitions known valid are kept (undefined: not cached here). Exported for its tests. */
export function aslValidationCacheDir(): string | undefined {
  return validCache?.dir;
}

function validatedKey(definition: unknown): string | undefined {
  if (!validCache) return undefined;
  return createHash('sha256')
    .update(validCache.version)
    .update('\0')
    .update(JSON.stringify(definition))
    .digest('hex');
}

/**
 * What asl-validator does to the definition it is given (validator.js): every state under any `States` object
 * without a QueryLanguage gets the definition's (JSONPath by default). The local engine reads the definition
 * after validation, so a definition answered from the cache is changed exactly the same way, with the same
 * JSONPath library.
 */
function applyDefaultQueryLanguage(definition: unknown): void {
  const { JSONPath } = createRequire(require.resolve('asl-validator'))('jsonpath-plus') as {
    JSONPath: (options: { path: string; json: unknown }) => Record<string, Record<string, unknown>>[];
  };
  const fallback = (definition as { QueryLanguage?: unknown }).QueryLanguage ?? 'JSONPath';
  for (const states of JSONPath({ path: '$..States', json: definition })) {
    for (const name of Object.keys(states)) {
      const state = states[name] as Record<string, unknown>;
      if (!state.QueryLanguage) state.QueryLanguage = fallback;
    }
  }
}

/** Validates an ASL definition with asl-validator; throws with every error, prefixed by the source. */
export function validateAsl(definition: unknown, source: string): void {
  const key = validatedKey(definition);
  const marker = key && validCache ? join(validCache.dir, key) : undefined;
  if (marker && existsSync(marker)) {
    applyDefaultQueryLanguage(definition);
    return;
  }
  const { isValid, errorsText } = loadAslValidator()(definition);
  if (!isValid) throw new Error(`${source}: invalid ASL: ${errorsText('; ')}`);
  if (marker && validCache) {
    try {
      mkdirSync(validCache.dir, { recursive: true });
      writeFileSync(marker, '');
    } catch {
      // Not cacheable here: the next start validates again.
    }
  }
}
