import { describe, expect, it } from 'vitest';
import { summarizeCosts } from '#shared/costs';

describe('Function: summarizeCosts', () => {
  it('breaks totals down by kind, model and step, each summing exactly to the total', () => {
    const entries = [
      {
        stateName: 'Plan',
        kind: 'llm',
        provider: 'openai',
        model: 'gpt-4o-mini',
        usdMicros: 270,
        savedMicros: 0,
      },
      {
        stateName: 'Act',
        kind: 'llm',
        provider: 'openai',
        model: 'gpt-4o-mini',
        usdMicros: 0,
        savedMicros: 270,
      },
      { stateName: 'Act', kind: 'lambda', provider: null, model: null, usdMicros: 3, savedMicros: 0 },
      { stateName: null, kind: 'transition', provider: null, model: null, usdMicros: 125, savedMicros: 0 },
    ];
    const s = summarizeCosts(entries);
    expect(s.totalMicros).toBe(398);
    expect(s.savedMicros).toBe(270);
    expect(s.byKind).toEqual({
      llm: { usdMicros: 270, savedMicros: 270, entries: 2 },
      lambda: { usdMicros: 3, savedMicros: 0, entries: 1 },
      transition: { usdMicros: 125, savedMicros: 0, entries: 1 },
    });
    expect(s.byModel['openai/gpt-4o-mini']).toEqual({ usdMicros: 270, savedMicros: 270, entries: 2 });
    expect(s.byStep.Act!.usdMicros).toBe(3);
    for (const breakdown of [s.byKind, s.byModel, s.byStep]) {
      expect(Object.values(breakdown).reduce((sum, t) => sum + t.usdMicros, 0)).toBe(s.totalMicros);
    }
  });

  it('is all zeros for an empty ledger', () => {
    expect(summarizeCosts([])).toEqual({
      totalMicros: 0,
      savedMicros: 0,
      byKind: {},
      byModel: {},
      byStep: {},
    });
  });
});
