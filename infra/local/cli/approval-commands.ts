import { parseArgs } from 'node:util';
import type { z } from '@hono/zod-openapi';
import type { ApprovalSchema } from '../../../functions/api/approvals.ts';
import type { ApiTarget } from './api-target.ts';
import { UsageError } from './boot.ts';
import { openApi } from './read-commands.ts';

/* `wflo approvals`, `wflo approve`, `wflo reject`: the approval routes of the API in use. */

type Approval = z.infer<ApprovalSchema>;

/** One line per approval: id, status, expiry, execution, title. */
export function approvalsTable(items: readonly Approval[]): string {
  if (items.length === 0) return '(no approvals)';
  const rows = items.map((a) => [
    a.approvalId,
    a.status,
    a.expiresAt ?? '-',
    a.executionId,
    a.decidedBy ? `${a.title} (${a.status} by ${a.decidedBy})` : a.title,
  ]);
  const header = ['APPROVAL', 'STATUS', 'EXPIRES', 'EXECUTION', 'TITLE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `wflo approvals [--status pending|approved|rejected|expired|all] [--json]`: pending ones by default. */
export async function approvals(args: string[], target: ApiTarget | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      status: { type: 'string', short: 's', default: 'pending' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError('wflo approvals takes no positional arguments');
  const query = values.status === 'all' ? '' : `?status=${encodeURIComponent(values.status)}`;
  const { api, close } = await openApi(target);
  try {
    const { items } = await api.get<{ items: Approval[] }>(`/approvals${query}`);
    console.log(values.json ? JSON.stringify({ items }) : approvalsTable(items));
    return 0;
  } finally {
    await close();
  }
}

/** `wflo approve <id> [--comment <text>]` and `wflo reject <id> [--comment <text>]`. */
export async function decide(
  decision: 'approve' | 'reject',
  args: string[],
  target: ApiTarget | undefined,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { comment: { type: 'string', short: 'm' }, json: { type: 'boolean', default: false } },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError(`wflo ${decision} takes exactly one approval id`);
  const { api, close } = await openApi(target);
  try {
    const { body } = await api.post<Approval>(`/approvals/${encodeURIComponent(id)}/decision`, {
      decision,
      ...(values.comment === undefined ? {} : { comment: values.comment }),
    });
    console.log(
      values.json ? JSON.stringify(body) : `${body.approvalId}: ${body.status} by ${body.decidedBy}`,
    );
    return 0;
  } finally {
    await close();
  }
}
