import { summarizeCosts } from '#shared/costs';
import { formatMicros } from '#shared/money';
import type { CostEntryRow, EventRow } from '#shared/ports/store';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** One progress line for an outbox event (a store row or the API's event), or undefined for those skipped. */
export function progressLine(event: Pick<EventRow, 'type' | 'payload'>): string | undefined {
  const p = event.payload as Record<string, unknown>;
  const state = pad(String(p.stateName ?? ''), 14);
  switch (event.type) {
    case 'execution.started':
      return `▶ started ${p.workflow} ${p.executionId}`;
    case 'step.started':
      return `  … ${state} ${p.activity}`;
    case 'step.retrying':
      return `  ↻ ${state} retry attempt ${Number(p.attempt) + 1}`;
    case 'step.succeeded':
      return `  ✓ ${state} ${p.durationMs} ms`;
    case 'step.failed': {
      const err = p.error as { error?: string; cause?: string } | undefined;
      return `  ✗ ${state} ${err?.error ?? 'Error'}: ${(err?.cause ?? '').slice(0, 160)}`;
    }
    case 'llm.called': {
      const u = p.usage as { inputTokens: number; outputTokens: number };
      return `    ${state} ${p.provider}/${p.model}  ${u.inputTokens} in / ${u.outputTokens} out  $${formatMicros(Number(p.costMicros))}`;
    }
    case 'sandbox.started':
      return `    ${state} sandbox: ${p.language}, ${p.codeBytes} bytes, ${p.timeoutSeconds} s limit`;
    case 'sandbox.finished': {
      const outcome =
        p.error !== undefined
          ? `no result (${String(p.error).slice(0, 120)})`
          : `exit ${p.exitCode}${p.timedOut ? ' (timed out)' : ''} after ${p.durationMs} ms`;
      return `    ${state} sandbox: ${outcome}  $${formatMicros(Number(p.costMicros))}`;
    }
    case 'budget.overrun': {
      const who = p.model ? `${p.provider}/${p.model}` : String(p.kind ?? 'spend');
      return `  ! ${state} budget overrun: ${who} charged $${formatMicros(Number(p.chargedMicros))}, $${formatMicros(Number(p.overrunMicros))} above its reservation; the run spends nothing more`;
    }
    default:
      // The terminal status is printed once the run has ended, after its last step line.
      return undefined;
  }
}

/** A ledger entry as the store and the API's `/costs` both give it. */
export type CostLine = Pick<
  CostEntryRow,
  'stateName' | 'provider' | 'model' | 'tokensIn' | 'tokensOut' | 'usdMicros' | 'savedMicros'
> & { readonly kind: string; readonly confirmed?: boolean };

/**
 * The cost table `wflo run` and `wflo costs` print: one row per ledger entry, then totals by kind and the
 * grand total, and, when the execution was charged above its reservations (`budget.overrun`), by how much.
 */
export function costTable(entries: readonly CostLine[], execution: { overrunMicros?: number } = {}): string {
  const rows = entries.map((e) => [
    e.stateName ?? '-',
    e.kind,
    e.model ? `${e.provider}/${e.model}` : '-',
    e.kind === 'llm' ? `${e.tokensIn}/${e.tokensOut}` : '',
    // Unconfirmed spend (no usage report; charged at its worst case) is marked, not hidden.
    `$${formatMicros(e.usdMicros)}${e.confirmed === false ? ' (unconfirmed)' : ''}`,
    e.savedMicros > 0 ? `$${formatMicros(e.savedMicros)}` : '',
  ]);
  const summary = summarizeCosts(entries);
  const header = ['step', 'kind', 'model', 'tokens in/out', 'cost', 'saved'];
  const footer = [
    ...Object.entries(summary.byKind).map(([kind, t]) => [
      `total ${kind}`,
      '',
      '',
      '',
      `$${formatMicros(t.usdMicros)}`,
      t.savedMicros ? `$${formatMicros(t.savedMicros)}` : '',
    ]),
    [
      'total',
      '',
      '',
      '',
      `$${formatMicros(summary.totalMicros)}`,
      summary.savedMicros ? `$${formatMicros(summary.savedMicros)}` : '',
    ],
    // Part of the total above, not added to it: what usage reports charged beyond the worst case held.
    ...(execution.overrunMicros
      ? [['overrun (in total)', '', '', '', `$${formatMicros(execution.overrunMicros)}`, '']]
      : []),
  ];
  return table(header, rows, footer);
}

/** Columns padded to their widest cell, a rule under the header (and above the footer, if any). */
function table(header: string[], rows: string[][], footer: string[][] = []): string {
  const all = [header, ...rows, ...footer];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => pad(c, widths[i]!))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line), ...(footer.length ? [rule, ...footer.map(line)] : [])].join(
    '\n',
  );
}

/** An execution as `wflo executions` lists it (the API's Execution). */
export interface ExecutionLine {
  readonly executionId: string;
  readonly workflow: string;
  readonly status: string;
  readonly costMicros: number;
  readonly createdAt: string;
  readonly finishedAt: string | null;
}

/** `wflo executions`: newest first, one line each. */
export function executionsTable(items: readonly ExecutionLine[]): string {
  if (items.length === 0) return '(no executions)';
  return table(
    ['execution', 'workflow', 'status', 'cost', 'created', 'finished'],
    items.map((e) => [
      e.executionId,
      e.workflow,
      e.status,
      `$${formatMicros(e.costMicros)}`,
      e.createdAt,
      e.finishedAt ?? '',
    ]),
  );
}

/** A step attempt as `wflo steps` lists it (the API's Step). */
export interface StepLine {
  readonly stateName: string;
  readonly activity: string;
  readonly attempt: number;
  readonly status: string;
  readonly durationMs: number | null;
  readonly costMicros: number;
  readonly error: unknown;
}

/** `wflo steps <id>`: every attempt of every activity step, in order, with its error if it failed. */
export function stepsTable(items: readonly StepLine[]): string {
  if (items.length === 0) return '(no steps yet)';
  return table(
    ['step', 'activity', 'attempt', 'status', 'duration', 'cost', 'error'],
    items.map((s) => {
      const err = s.error as { error?: string; cause?: string } | null;
      return [
        s.stateName,
        s.activity,
        String(s.attempt),
        s.status,
        s.durationMs === null ? '' : `${s.durationMs} ms`,
        `$${formatMicros(s.costMicros)}`,
        err ? `${err.error ?? 'Error'}: ${(err.cause ?? '').slice(0, 80)}` : '',
      ];
    }),
  );
}
