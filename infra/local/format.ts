import { summarizeCosts } from '#shared/costs';
import { formatMicros } from '#shared/money';
import type { CostEntryRow, EventRow } from '#shared/store';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** One progress line for an outbox event, or undefined for events the live view skips. */
export function progressLine(event: EventRow): string | undefined {
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
    default:
      // The terminal status is printed once the run has ended, after its last step line.
      return undefined;
  }
}

/** The cost table `wflo run` prints: one row per ledger entry, then totals by kind and the grand total. */
export function costTable(entries: readonly CostEntryRow[]): string {
  const rows = entries.map((e) => [
    e.stateName ?? '-',
    e.kind,
    e.model ? `${e.provider}/${e.model}` : '-',
    e.kind === 'llm' ? `${e.tokensIn}/${e.tokensOut}` : '',
    `$${formatMicros(e.usdMicros)}`,
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
  ];
  const all = [header, ...rows, ...footer];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => pad(c, widths[i]!))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line), rule, ...footer.map(line)].join('\n');
}
