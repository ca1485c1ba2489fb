import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as z from 'zod';
import { ConfigError, ValidationError } from './errors.ts';
import { describeIssues } from './middleware/validate-input.ts';

/**
 * Most agent-loop turns one execution may ask for. Each turn is a model call plus up to three sandbox
 * states, and the whole conversation rides in the state payload (256 KiB) and the execution history
 * (25,000 events): past a few dozen turns a run fails on those limits instead of ending cleanly, and its
 * cost is better bounded up front than discovered. `statemachines/agent-loop.input.json` states the same
 * bound (a test keeps them equal).
 */
export const MAX_AGENT_ITERATIONS = 50;

/**
 * How deeply an execution input may nest (objects and arrays). Step Functions' own JSONPath and
 * intrinsic functions recurse over the input; thousands of levels (a few KB of `[[[[…`) exhaust the
 * stack of an interpreter, so such input is refused at the door with a 400 naming this limit.
 */
export const MAX_INPUT_DEPTH = 64;

/** A workflow's input declaration: a JSON Schema (draft 2020-12) in `<name>.input.json` next to its ASL file. */
export type InputSchema = Readonly<Record<string, unknown>>;

const SCHEMA_SUFFIX = '.input.json';

/** The input-schema file that belongs to an ASL file (`x.asl.json` → `x.input.json`). */
export function inputSchemaFileOf(aslFile: string): string {
  return aslFile.replace(/\.asl\.json$/, SCHEMA_SUFFIX);
}

const compiled = new WeakMap<InputSchema, z.ZodType>();

function compile(schema: InputSchema, source: string): z.ZodType {
  let check = compiled.get(schema);
  if (!check) {
    try {
      // zod's JSON Schema reader: the API bundle carries zod already (ajv would add ~120 KB to it).
      check = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new ConfigError(`${source}: not a usable JSON Schema (${(error as Error).message})`);
    }
    compiled.set(schema, check);
  }
  return check;
}

/** A schema file as last read, by path: re-read only when the file changes (`wflo dev` edits). */
const read = new Map<string, { mtimeMs: number; schema: InputSchema }>();

/** Parses one input-schema file (no schema check); null when it does not exist. */
function parseInputSchema(file: string): InputSchema | null {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(file).mtimeMs;
  } catch {
    return null;
  }
  const cached = read.get(file);
  if (cached?.mtimeMs === mtimeMs) return cached.schema;
  let schema: unknown;
  try {
    schema = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new ConfigError(`${file}: an input schema must be a JSON object`);
  }
  read.set(file, { mtimeMs, schema: schema as InputSchema });
  return schema as InputSchema;
}

/**
 * Reads and checks one input-schema file; null when the file does not exist (the workflow then accepts any
 * JSON object). A file that is not JSON, not an object or not a schema zod can read fails with a
 * {@link ConfigError} naming it, so a typo surfaces when the workflow is loaded (locally) or synthesized
 * (for AWS), not on the first start. An unchanged file is answered from memory, already checked.
 */
export function readInputSchema(file: string): InputSchema | null {
  const schema = parseInputSchema(file);
  if (schema) compile(schema, file);
  return schema;
}

/**
 * Every `<name>.input.json` of a directory by workflow name ({} when the directory does not exist). Parsed
 * only: the API Lambda reads them at init, and each is compiled on its first start (checkWorkflowInput);
 * synth has already checked them (infra/stacks/api-stack.ts).
 */
export function readInputSchemas(dir: string): Record<string, InputSchema> {
  if (!existsSync(dir)) return {};
  const schemas: Record<string, InputSchema> = {};
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(SCHEMA_SUFFIX))
    .sort()) {
    const schema = parseInputSchema(join(dir, file));
    if (schema) schemas[basename(file, SCHEMA_SUFFIX)] = schema;
  }
  return schemas;
}

/** True when `value` nests objects/arrays more than `limit` levels deep (iterative: no recursion to overflow). */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Checks an execution input before anything is written: no deeper than {@link MAX_INPUT_DEPTH}, and valid
 * against the workflow's input schema when it declares one. Throws {@link ValidationError} naming each bad
 * field as `input.<path>: <message>`.
 */
export function checkWorkflowInput(workflow: string, input: unknown, schema: InputSchema | null): void {
  if (nestedDeeperThan(input, MAX_INPUT_DEPTH)) {
    throw new ValidationError(`input nests deeper than ${MAX_INPUT_DEPTH} levels`, [
      `input: nests deeper than the limit of ${MAX_INPUT_DEPTH} levels`,
    ]);
  }
  if (!schema) return;
  const parsed = compile(schema, `${workflow} input schema`).safeParse(input ?? {});
  if (parsed.success) return;
  const issues = describeIssues(parsed.error).map((i) =>
    i.startsWith('(root)') ? `input${i.slice(6)}` : `input.${i}`,
  );
  throw new ValidationError(`invalid input for ${workflow}: ${issues.join('; ')}`, issues);
}
