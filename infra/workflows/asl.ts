import { createRequire } from 'node:module';

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
// asl-validator is CommonJS without type declarations; typed here rather than with a global module declaration.
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/** Validates an ASL definition with asl-validator; throws with every error, prefixed by the source. */
export function validateAsl(definition: unknown, source: string): void {
  const { isValid, errorsText } = aslValidator(definition);
  if (!isValid) throw new Error(`${source}: invalid ASL: ${errorsText('; ')}`);
}
