import { desc, eq, sql } from 'drizzle-orm';
import type { WfloDb } from '../db/connection.ts';
import { approvals, events, executions } from '../db/schema.ts';
import { EVENTS } from '../events/catalogue.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import { json, rowsOf } from '../store/statements.ts';

/**
 * Approvals in the store's `approvals` table (PGlite embedded, Aurora on AWS). Every change is one
 * statement: the row, its outbox event and the execution's status (`waiting_approval` while a person is
 * asked, `running` again once decided or expired) change together or not at all.
 */
export function storeApprovals(db: WfloDb): ApprovalStore {
  const get = async (id: string) => {
    const [row] = await db.select().from(approvals).where(eq(approvals.id, id));
    return row;
  };
  const ids = (result: unknown) => rowsOf<{ id: string }>(result).map((r) => r.id);
  return {
    async request(a) {
      const result = await db.execute(sql`
        with ins as (
          insert into ${approvals} as a
            (id, execution_id, state_name, status, prompt, approvers, task_token, entry_key, expires_at)
          values (${a.id}, ${a.executionId}, ${a.stateName}, 'pending', ${json(a.prompt)}::jsonb,
            ${json(a.approvers)}::jsonb, ${a.taskToken}, ${a.entryKey}, ${a.expiresAt.toISOString()}::timestamptz)
          on conflict (entry_key) do update set task_token = excluded.task_token where a.status = 'pending'
          returning id, execution_id, state_name, prompt, approvers, expires_at, (xmax = 0) as created
        ), ev as (
          insert into ${events} (execution_id, type, payload)
          select execution_id, ${EVENTS.approvalRequested}::text, jsonb_build_object('approvalId', id,
            'stateName', state_name, 'title', prompt->>'title', 'approvers', approvers, 'expiresAt', expires_at)
          from ins where created
          returning id
        ), st as (
          update ${executions} set status = 'waiting_approval'
          where id = ${a.executionId} and status = 'running' and exists (select 1 from ins)
          returning id
        )
        select id, created from ins`);
      const [row] = rowsOf<{ id: string; created: boolean }>(result);
      const approval = await get(row?.id ?? a.id);
      if (!approval) throw new Error(`approval ${a.id} was neither written nor found`);
      return { approval, created: row?.created === true };
    },

    get,

    async list(query) {
      const base = db.select().from(approvals);
      return (query.status ? base.where(eq(approvals.status, query.status)) : base)
        .orderBy(desc(approvals.createdAt), desc(approvals.id))
        .limit(query.limit);
    },

    async recordDecision({ id, decision, decidedBy }) {
      const status = decision.decision === 'approve' ? 'approved' : 'rejected';
      const result = await db.execute(sql`
        with upd as (
          update ${approvals} set status = ${status}, decision = ${json(decision)}::jsonb,
            decided_by = ${decidedBy}, decided_at = now()
          where id = ${id} and status = 'pending'
          returning id, execution_id, decided_by, decision
        ), ev as (
          insert into ${events} (execution_id, type, payload)
          select execution_id, ${EVENTS.approvalDecided}::text, jsonb_build_object('approvalId', id,
            'decision', decision->>'decision', 'comment', decision->'comment', 'decidedBy', decided_by)
          from upd
          returning id
        ), st as (
          update ${executions} set status = 'running'
          where id in (select execution_id from upd) and status = 'waiting_approval'
          returning id
        )
        select id from upd`);
      return ids(result).length ? get(id) : undefined;
    },

    async expireDue(at) {
      const due = at ? sql`expires_at <= ${at.toISOString()}::timestamptz` : sql`expires_at <= now()`;
      return ids(await db.execute(expireWhere(due)));
    },

    async markExpired(id) {
      const done = ids(await db.execute(expireWhere(sql`id = ${id}`)));
      return done.length ? get(id) : undefined;
    },
  };
}

/** Pending approvals matching `condition` become expired, with `approval.expired`, in one statement. */
function expireWhere(condition: ReturnType<typeof sql>) {
  return sql`
    with upd as (
      update ${approvals} set status = 'expired', decided_at = now()
      where status = 'pending' and ${condition}
      returning id, execution_id, expires_at
    ), ev as (
      insert into ${events} (execution_id, type, payload)
      select execution_id, ${EVENTS.approvalExpired}::text, jsonb_build_object('approvalId', id, 'expiresAt', expires_at)
      from upd
      returning id
    ), st as (
      update ${executions} set status = 'running'
      where id in (select execution_id from upd) and status = 'waiting_approval'
      returning id
    )
    select id from upd`;
}
