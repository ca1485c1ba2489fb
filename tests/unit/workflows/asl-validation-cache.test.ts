import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aslValidationCacheDir, validateAsl } from '../../../infra/workflows/asl.ts';

/** asl-validator compiles its schemas on first use: seconds on a busy machine. */
const VALIDATES = 60_000;

/** A definition no earlier run has validated (its Comment is new), with a nested Map to default too. */
function freshDefinition(): string {
  return JSON.stringify({
    Comment: `cache test ${randomUUID()}`,
    StartAt: 'Each',
    States: {
      Each: {
        Type: 'Map',
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Inner',
          States: { Inner: { Type: 'Pass', End: true } },
        },
        Next: 'Done',
      },
      Done: { Type: 'Succeed' },
    },
  });
}

describe('validateAsl: definitions asl-validator accepted are not validated again', () => {
  it(
    'keeps an accepted definition and answers it again with the same changed definition',
    () => {
      // Prepare
      const text = freshDefinition();
      const dir = aslValidationCacheDir();
      expect(dir).toBeDefined();
      const before = existsSync(dir!) ? readdirSync(dir!).length : 0;
      const validated = JSON.parse(text);
      const cached = JSON.parse(text);

      // Act
      validateAsl(validated, 'first.asl.json');
      const kept = readdirSync(dir!).length;
      validateAsl(cached, 'second.asl.json');

      // Assess: one entry more, and the cached answer applies asl-validator's QueryLanguage defaults too
      expect(kept).toBe(before + 1);
      expect(readdirSync(dir!).length).toBe(kept);
      expect(validated.States.Each.ItemProcessor.States.Inner.QueryLanguage).toBe('JSONPath');
      expect(cached).toEqual(validated);
    },
    VALIDATES,
  );

  it(
    'still refuses an invalid definition with asl-validator’s errors, every time',
    () => {
      // Prepare
      const bad = {
        Comment: `bad ${randomUUID()}`,
        StartAt: 'Missing',
        States: { A: { Type: 'Pass', End: true } },
      };

      // Act + Assess
      expect(() => validateAsl(structuredClone(bad), 'bad.asl.json')).toThrow(
        /bad\.asl\.json: invalid ASL: .*Missing/,
      );
      expect(() => validateAsl(structuredClone(bad), 'bad.asl.json')).toThrow(
        /bad\.asl\.json: invalid ASL: .*Missing/,
      );
    },
    VALIDATES,
  );
});
