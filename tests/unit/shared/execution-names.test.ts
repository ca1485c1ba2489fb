import { describe, expect, it } from 'vitest';
import { EXECUTION_NAME_MAX, executionName, goalSlug } from '#shared/execution-names';

/** What StartExecution accepts and CloudWatch Logs can carry (the stricter of the two rules). */
const STEP_FUNCTIONS_SAFE = /^[A-Za-z0-9_-]{1,80}$/;
const fixed = (hex: string) => () => Buffer.from(hex, 'hex');

describe('executionName', () => {
  it('names a run by workflow, goal slug and a short id', () => {
    // Act
    const name = executionName(
      'agent-loop',
      { input: { goal: 'Write a haiku about queues!' } },
      fixed('0a1b2c3d4e5f'),
    );

    // Assess
    expect(name).toBe('agent-loop-write-a-haiku-about-queues-0a1b2c3d4e5f');
  });

  it('uses the idempotency key instead of the goal, and the same key always gives the same name', () => {
    // Act
    const first = executionName('hello', { idempotencyKey: 'Order_42', input: { goal: 'ignored' } });
    const retried = executionName('hello', { idempotencyKey: 'Order_42', input: { goal: 'other' } });
    const otherWorkflow = executionName('agent-loop', { idempotencyKey: 'Order_42' });
    const otherCase = executionName('hello', { idempotencyKey: 'order_42' });

    // Assess
    expect(first).toMatch(/^hello-Order_42-[0-9a-f]{12}$/);
    expect(retried).toBe(first);
    expect(otherWorkflow).not.toBe(first.replace(/^hello/, 'agent-loop'));
    expect(otherCase).not.toBe(first);
  });

  it('says none without key or goal, and gives distinct names to distinct unkeyed runs', () => {
    // Act
    const names = new Set(
      Array.from({ length: 200 }, () => executionName('hello', { input: { name: 'x' } })),
    );

    // Assess
    expect(names.size).toBe(200);
    for (const name of names) expect(name).toMatch(/^hello-none-[0-9a-f]{12}$/);
  });

  it.each([
    ['a goal of only forbidden characters', { goal: ' "#%\\^|~`$&,;:/<>{}[]?*\t\n\u0000\u007f ' }],
    ['accents, emoji and other scripts', { goal: 'Résumé 📄 über 東京 naïve' }],
    ['a very long goal', { goal: 'word '.repeat(500) }],
    ['a goal that is not text', { goal: { nested: true } }],
  ])('stays within the Step Functions name rules for %s', (_, input) => {
    // Act
    const name = executionName('code-execution', { input });

    // Assess
    expect(name).toMatch(STEP_FUNCTIONS_SAFE);
    expect(name).not.toMatch(/--/);
  });

  it('fits 80 characters with the longest key and a long workflow name, keeping the key readable', () => {
    // Prepare
    const key = 'k'.repeat(64);

    // Act
    const name = executionName('a-workflow-with-a-rather-long-descriptive-name-indeed', {
      idempotencyKey: key,
    });

    // Assess
    expect(name.length).toBeLessThanOrEqual(EXECUTION_NAME_MAX);
    expect(name).toMatch(STEP_FUNCTIONS_SAFE);
    expect(name).toMatch(/-k{20,}-[0-9a-f]{12}$/);
  });

  it('folds accents in the goal slug and caps its length', () => {
    expect(goalSlug({ goal: 'Crème brûlée à la carte' })).toBe('creme-brulee-a-la-carte');
    expect(goalSlug({ goal: 'x'.repeat(100) })).toHaveLength(32);
    expect(goalSlug({ goal: 'Summarise the architecture document for the new team' })).toBe(
      'summarise-the-architecture',
    );
    expect(goalSlug({ goal: '!!!' })).toBeUndefined();
    expect(goalSlug(null)).toBeUndefined();
  });
});
