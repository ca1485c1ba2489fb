import { describe, expect, it } from 'vitest';
import type { CostEntryRow, EventRow } from '#shared/ports/store';
import { costTable, progressLine } from '../../../infra/local/cli/format.ts';

const event = (type: string, payload: Record<string, unknown>): EventRow => ({
  id: 1,
  eventId: 'e',
  executionId: 'x',
  type,
  payload,
  createdAt: new Date(0),
});

describe('wflo run output', () => {
  it('prints one line per step transition and model call', () => {
    expect(progressLine(event('step.started', { stateName: 'Plan', activity: 'llm-invoke' }))).toBe(
      '  … Plan           llm-invoke',
    );
    expect(progressLine(event('step.retrying', { stateName: 'Plan', attempt: 1 }))).toContain(
      'retry attempt 2',
    );
    expect(
      progressLine(
        event('step.failed', { stateName: 'Plan', error: { error: 'LlmProviderError', cause: 'x' } }),
      ),
    ).toContain('LlmProviderError: x');
    expect(
      progressLine(
        event('llm.called', {
          stateName: 'Plan',
          provider: 'scripted',
          model: 'm',
          usage: { inputTokens: 3, outputTokens: 4 },
          costMicros: 12,
        }),
      ),
    ).toContain('3 in / 4 out  $0.000012');
    expect(progressLine(event('cost.recorded', {}))).toBeUndefined();
  });

  it('prints what a sandbox run was given and how it ended', () => {
    expect(
      progressLine(
        event('sandbox.started', {
          stateName: 'Prepare',
          language: 'python',
          codeBytes: 12,
          timeoutSeconds: 30,
        }),
      ),
    ).toBe('    Prepare        sandbox: python, 12 bytes, 30 s limit');
    expect(
      progressLine(
        event('sandbox.finished', {
          stateName: 'Collect',
          exitCode: 137,
          timedOut: true,
          durationMs: 1002,
          costMicros: 330,
        }),
      ),
    ).toBe('    Collect        sandbox: exit 137 (timed out) after 1002 ms  $0.000330');
    expect(
      progressLine(
        event('sandbox.finished', {
          stateName: 'Collect',
          error: 'no result was delivered',
          costMicros: 330,
        }),
      ),
    ).toContain('sandbox: no result (no result was delivered)');
  });

  it('prints a cost table whose total is the sum of its rows', () => {
    const row = (stateName: string, usdMicros: number, savedMicros = 0): CostEntryRow => ({
      id: 1,
      executionId: 'x',
      stepId: 1,
      stateName,
      kind: 'llm',
      provider: 'scripted',
      model: 'agent-demo',
      tokensIn: 10,
      tokensOut: 5,
      tokensCached: 0,
      usdMicros,
      savedMicros,
      idempotencyKey: null,
      confirmed: true,
      createdAt: new Date(0),
    });
    const table = costTable([row('Plan', 26), row('Act', 37, 12)]);
    expect(table).toMatch(/Plan\s+llm\s+scripted\/agent-demo\s+10\/5\s+\$0\.000026/);
    expect(table).toMatch(/^total\s+\$0\.000063\s+\$0\.000012$/m);
  });

  it('names the overrun (spend charged above its reservation) under the total, only when there is one', () => {
    // Prepare
    const row = {
      stateName: 'Plan',
      kind: 'llm',
      provider: 'openai',
      model: 'gpt-4o-mini',
      tokensIn: 10,
      tokensOut: 900,
      usdMicros: 1_600,
      savedMicros: 0,
    };

    // Act
    const over = costTable([row], { overrunMicros: 600 });
    const within = costTable([row], { overrunMicros: 0 });
    const line = progressLine(
      event('budget.overrun', {
        stateName: 'Plan',
        kind: 'llm',
        provider: 'openai',
        model: 'gpt-4o-mini',
        reservedMicros: 1_000,
        chargedMicros: 1_600,
        overrunMicros: 600,
      }),
    );

    // Assess
    expect(over).toMatch(/^total\s+\$0\.001600$/m);
    expect(over).toMatch(/^overrun \(in total\)\s+\$0\.000600$/m);
    expect(within).not.toMatch(/overrun/);
    expect(line).toBe(
      '  ! Plan           budget overrun: openai/gpt-4o-mini charged $0.001600, $0.000600 above its reservation; the run spends nothing more',
    );
  });
});
