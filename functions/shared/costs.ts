import type { Micros } from './money.ts';

export interface LedgerEntry {
  readonly stateName: string | null;
  readonly kind: string;
  readonly provider: string | null;
  readonly model: string | null;
  readonly usdMicros: Micros;
  readonly savedMicros: Micros;
}

export interface CostTotal {
  usdMicros: Micros;
  savedMicros: Micros;
  entries: number;
}

export interface CostSummary {
  readonly totalMicros: Micros;
  readonly savedMicros: Micros;
  readonly byKind: Record<string, CostTotal>;
  readonly byModel: Record<string, CostTotal>;
  readonly byStep: Record<string, CostTotal>;
}

function add(map: Record<string, CostTotal>, key: string, e: LedgerEntry): void {
  const t = map[key] ?? { usdMicros: 0, savedMicros: 0, entries: 0 };
  map[key] = t;
  t.usdMicros += e.usdMicros;
  t.savedMicros += e.savedMicros;
  t.entries += 1;
}

/**
 * Totals a ledger by kind, model and step. Integer addition only, so every breakdown sums exactly to the
 * total. Entries without a model (compute, transitions) are grouped under `-`.
 */
export function summarizeCosts(entries: readonly LedgerEntry[]): CostSummary {
  const byKind: Record<string, CostTotal> = {};
  const byModel: Record<string, CostTotal> = {};
  const byStep: Record<string, CostTotal> = {};
  let totalMicros = 0;
  let savedMicros = 0;
  for (const e of entries) {
    totalMicros += e.usdMicros;
    savedMicros += e.savedMicros;
    add(byKind, e.kind, e);
    add(byModel, e.model ? `${e.provider ?? '?'}/${e.model}` : '-', e);
    add(byStep, e.stateName ?? '-', e);
  }
  return { totalMicros, savedMicros, byKind, byModel, byStep };
}
