import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ApiTarget } from './api-target.ts';
import { UsageError } from './boot.ts';
import { openApi } from './read-commands.ts';

/*
 * `wflo task-success | task-failure | task-heartbeat <token>`: SendTaskSuccess/Failure/Heartbeat through the
 * API in use (the deployed one with --api-url, the `wflo dev` that owns the data directory, else the embedded
 * store, where the answer waits in the run's journal for the next `wflo dev`). The token travels in the body
 * (`POST /task-tokens/success` with `taskToken`), where Step Functions tokens' `/`, `+` and `=` are safe.
 */

export type TaskTokenCommand = 'task-success' | 'task-failure' | 'task-heartbeat';

/** `--output`: inline JSON or `@file`; `{}` when absent (SendTaskSuccess needs some output). */
export function parseOutput(value: string | undefined): unknown {
  if (value === undefined) return {};
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--output is not valid JSON: ${(err as Error).message}`);
  }
}

/** The token: the positional argument, or `-` for the first line of standard input (long tokens, no shell history). */
function tokenOf(command: TaskTokenCommand, positionals: string[]): string {
  const token = positionals[0];
  if (!token || positionals.length > 1) throw new UsageError(`wflo ${command} takes exactly one task token`);
  if (token !== '-') return token;
  const line = readFileSync(0, 'utf8').split(/\r?\n/)[0]?.trim();
  if (!line) throw new UsageError(`wflo ${command}: no token on standard input`);
  return line;
}

/** Runs one of the task-token commands; 0 when the engine took the answer. */
export async function taskToken(
  command: TaskTokenCommand,
  args: string[],
  target: ApiTarget | undefined,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      error: { type: 'string', short: 'e' },
      cause: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
    },
  });
  const token = tokenOf(command, positionals);
  let path: string;
  let body: Record<string, unknown>;
  switch (command) {
    case 'task-success':
      if (values.error !== undefined || values.cause !== undefined) {
        throw new UsageError('wflo task-success takes --output, not --error or --cause');
      }
      path = '/task-tokens/success';
      body = { taskToken: token, output: parseOutput(values.output) };
      break;
    case 'task-failure':
      if (values.output !== undefined)
        throw new UsageError('wflo task-failure takes --error and --cause, not --output');
      path = '/task-tokens/failure';
      body = {
        taskToken: token,
        ...(values.error === undefined ? {} : { error: values.error }),
        ...(values.cause === undefined ? {} : { cause: values.cause }),
      };
      break;
    case 'task-heartbeat':
      if (values.output !== undefined || values.error !== undefined || values.cause !== undefined) {
        throw new UsageError('wflo task-heartbeat takes only the token');
      }
      path = '/task-tokens/heartbeat';
      body = { taskToken: token };
      break;
  }
  const { api, close } = await openApi(target);
  try {
    const { body: answer } = await api.post<{ accepted: string }>(path, body);
    console.log(values.json ? JSON.stringify(answer) : `task ${answer.accepted}: accepted`);
    return 0;
  } finally {
    await close();
  }
}
