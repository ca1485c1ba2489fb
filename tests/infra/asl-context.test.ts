import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TASK_CONTEXT_PARAMETERS } from '#shared/step-context';

interface State {
  Type: string;
  Resource?: string;
  Parameters?: unknown;
  Branches?: { States: Record<string, State> }[];
  ItemProcessor?: { States: Record<string, State> };
  Iterator?: { States: Record<string, State> };
}

const DIRS = ['statemachines', 'tests/fixtures/statemachines'];

/** Every Task state of a definition, Map iterators and Parallel branches included, as [path, state]. */
function tasks(states: Record<string, State>, prefix = ''): [string, State][] {
  return Object.entries(states).flatMap(([name, state]): [string, State][] => {
    const path = `${prefix}${name}`;
    if (state.Type === 'Task') return [[path, state]];
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) return tasks(inner.States, `${path}/`);
    return (state.Branches ?? []).flatMap((b, i) => tasks(b.States, `${path}[${i}]/`));
  });
}

/** JSON paths of every `"<key>.$": "$$"` (the whole context object) under a Parameters value. */
function wholeContextRefs(value: unknown, at = 'Parameters'): string[] {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k.endsWith('.$') && typeof v === 'string' && v.trim() === '$$'
      ? [`${at}.${k}`]
      : wholeContextRefs(v, `${at}.${k}`),
  );
}

const files = DIRS.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.asl.json'))
    .map((f) => join(dir, f)),
);

describe('Task context in statemachines/*.asl.json', () => {
  it('finds the workflows to check', () => {
    expect(files.filter((f) => f.startsWith('statemachines/')).length).toBeGreaterThanOrEqual(3);
  });

  it.each(files)(
    '%s: no Task passes $$ whole; every Lambda Task passes exactly TASK_CONTEXT_PARAMETERS',
    (file) => {
      // Prepare
      const definition = JSON.parse(readFileSync(file, 'utf8')) as { States: Record<string, State> };

      // Act
      const found = tasks(definition.States);
      const whole = found.flatMap(([path, s]) =>
        wholeContextRefs(s.Parameters).map((ref) => `${path}: ${ref}`),
      );
      const lambdaContexts = found
        .filter(([, s]) => s.Resource === 'arn:aws:states:::lambda:invoke')
        .map(([path, s]) => [path, (s.Parameters as { Payload?: { context?: unknown } }).Payload?.context]);

      // Assess
      expect(found.length).toBeGreaterThan(0);
      expect(whole).toEqual([]);
      for (const [path, context] of lambdaContexts) {
        expect({ path, context }).toEqual({ path, context: TASK_CONTEXT_PARAMETERS });
      }
    },
  );
});
