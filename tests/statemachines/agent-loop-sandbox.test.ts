/**
 * The agent loop's code tool: a reply ending in `RUN: python` (or javascript) after a fenced block makes
 * the loop run the block in the sandbox and hand the output back as the next user turn. The scripted model
 * (tests/fixtures/scripts/code-agent.json) answers FINAL: 45 only when the output it is handed contains
 * the program's real stdout `45`. Programs are the tests' own: without bubblewrap they run unisolated
 * (SANDBOX_UNSAFE_LOCAL); tests/security runs the Python case in bubblewrap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fargateMicros } from '#shared/pricing/aws';
import type { LocalRuntime } from '../../infra/local/engine/runtime.ts';
import { findExecutable } from '../../sandbox-image/src/core/interpreter.ts';
import { runToEnd, startLocal, stopLocal } from '../helpers/local.ts';

const CODE_MODEL = { provider: 'scripted', name: 'code-agent' } as const;
/** The sandbox runs the system's python3 only (never a version manager's shim). */
const hasPython = findExecutable('python3') !== undefined;

let local: LocalRuntime;

beforeAll(async () => {
  local = await startLocal({
    LLM_SCRIPT_FILE: 'tests/fixtures/scripts/code-agent.json',
    SANDBOX_UNSAFE_LOCAL: 'true',
  });
});
afterAll(async () => {
  await stopLocal(local);
});

let goals = 0;
const fresh = (goal: string) => `${goal} #${goals++}`;

function runAgent(input: Record<string, unknown>) {
  return runToEnd(local, 'agent-loop', { model: CODE_MODEL, ...input });
}

describe('State machine: agent-loop.asl.json with the sandbox tool', () => {
  it.skipIf(!hasPython)(
    'RunPython: the model asks to run Python, gets the output back and answers from it',
    async () => {
      // Act
      const { execution, steps, ledger, events } = await runAgent({ goal: fresh('sum of 0..9') });

      // Assess
      expect(execution.status).toBe('succeeded');
      expect(execution.output).toMatchObject({
        answer: '45',
        lastReply: 'The program printed 45.\nFINAL: 45',
        iterations: 2,
        stoppedBy: 'final',
      });
      expect(steps.map((s) => [s.stateName, s.status])).toEqual([
        ['Plan', 'succeeded'],
        ['Act', 'succeeded'],
        ['PrepareCode', 'succeeded'],
        ['CollectCode', 'succeeded'],
        ['Act', 'succeeded'],
        ['Finish', 'succeeded'],
      ]);
      expect(events.find((e) => e.type === 'sandbox.started')?.payload).toMatchObject({
        language: 'python',
        codeBytes: Buffer.byteLength('print(sum(range(10)))\n'),
        timeoutSeconds: 30,
      });
      expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
        exitCode: 0,
        stdout: '45\n',
      });
      expect(ledger.filter((c) => c.kind === 'sandbox').map((c) => [c.stateName, c.usdMicros])).toEqual([
        ['CollectCode', fargateMicros(0.5, 1, 0)],
      ]);
      expect(ledger.filter((c) => c.kind === 'llm')).toHaveLength(3);
    },
  );

  it('RunJavaScript: a ```js block with RUN: javascript runs with Node', async () => {
    // Act
    const { execution, events } = await runAgent({ goal: fresh('sum of 0..9 in JavaScript') });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ answer: '45', iterations: 2 });
    expect(events.find((e) => e.type === 'sandbox.started')?.payload).toMatchObject({
      language: 'javascript',
    });
  });

  it.skipIf(!hasPython)(
    'FailedProgramFedBack: a program that raises is not a failed run; its exit code and stderr go back to the model',
    async () => {
      // Act
      const { execution, steps, events } = await runAgent({ goal: fresh('divide by zero') });

      // Assess
      expect(execution.status).toBe('succeeded');
      expect(execution.output).toMatchObject({ answer: 'cannot divide by zero' });
      expect(steps.find((s) => s.stateName === 'CollectCode')?.status).toBe('succeeded');
      expect(events.find((e) => e.type === 'sandbox.finished')?.payload).toMatchObject({
        exitCode: 1,
        stdout: 'before\n',
        stderr: expect.stringContaining('ZeroDivisionError'),
      });
    },
  );

  it('RunAtIterationLimit: a RUN on the last allowed turn stops the loop instead of running code', async () => {
    // Act
    const { execution, steps, events } = await runAgent({ goal: fresh('sum of 0..9'), maxIterations: 1 });

    // Assess
    expect(execution.status).toBe('succeeded');
    expect(execution.output).toMatchObject({ stoppedBy: 'max_iterations', iterations: 1, answer: null });
    expect(steps.map((s) => s.stateName)).toEqual(['Plan', 'Act', 'Finish']);
    expect(events.some((e) => e.type.startsWith('sandbox.'))).toBe(false);
  });
});
