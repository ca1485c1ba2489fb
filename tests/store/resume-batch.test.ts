import { describe, expect, it } from 'vitest';
import { useTestStore } from '../helpers/store-fixture.ts';

/*
 * The store's set statements for a restart taking over many runs at once (functions/shared/store/resume.ts):
 * each must make, for every run of the set, the change its one-run counterpart makes (claimExecution with
 * `from`, recordUnconfirmed + releaseHeld, readJournal, writeJournal). PGlite here; PostgreSQL with DATABASE_URL.
 */
const db = useTestStore('resume-batch');

/** A running execution owned by `owner`, with a budget. */
async function running(owner: string | null, budgetMicros = 1_000_000): Promise<string> {
  const id = await db.execution(budgetMicros);
  await db.store.markRunning(id);
  if (owner !== null) await db.store.claimExecution({ id, owner, leaseMs: 60_000 });
  return id;
}

describe('Store: claimExecutions', () => {
  it('claims each run only from the owner it names, and no run that is not driven', async () => {
    // Prepare
    const dead = await running('host/1/dead');
    const unowned = await running(null);
    const movedOn = await running('host/2/alive');
    const ended = await running('host/1/dead');
    await db.store.finishExecution({ id: ended, status: 'succeeded', output: {} });

    // Act
    const claimed = await db.store.claimExecutions({
      owner: 'me',
      leaseMs: 15_000,
      runs: [
        { id: dead, from: 'host/1/dead' },
        { id: unowned, from: null },
        { id: movedOn, from: 'host/1/dead' },
        { id: ended, from: 'host/1/dead' },
        { id: 'resume-batch-missing', from: null },
      ],
    });

    // Assess
    expect(claimed.sort()).toEqual([dead, unowned].sort());
    expect((await db.store.getExecution(dead))!.owner).toBe('me');
    expect((await db.store.getExecution(unowned))!.owner).toBe('me');
    expect((await db.store.getExecution(movedOn))!.owner, 'a CAS on the wrong owner changes nothing').toBe(
      'host/2/alive',
    );
    expect(await db.store.claimExecutions({ owner: 'me', leaseMs: 1, runs: [] })).toEqual([]);
  });
});

describe('Store: settleInterruptedRuns', () => {
  it('turns model-call holds into unconfirmed spend, releases the rest, fails running steps, once', async () => {
    // Prepare: two runs, each with a running step, an llm hold and a transition hold; a third holds nothing
    const runs = [await running('host/1/dead'), await running('host/1/dead'), await running(null)];
    for (const [i, id] of runs.slice(0, 2).entries()) {
      const step = await db.store.beginStep({
        executionId: id,
        stateName: 'Plan',
        activity: 'llm-invoke',
        enteredAt: new Date().toISOString(),
        attempt: 0,
      });
      const held = await db.store.reserveBudgets(id, [
        { key: `${id}/llm`, amountMicros: 40_000 + i, kind: 'llm', stepId: step.id, stateName: 'Plan' },
        { key: `${id}/tr`, amountMicros: 25, kind: 'transition' },
      ]);
      expect(held.ok).toBe(true);
    }
    const input = runs.map((id, i) => ({
      executionId: id,
      previousOwner: i < 2 ? 'host/1/dead' : null,
      error: { error: 'wflo.Interrupted', cause: `run ${i} was cut off` },
    }));

    // Act
    const first = await db.store.settleInterruptedRuns(input, 'the process died');
    const again = await db.store.settleInterruptedRuns(input, 'the process died');

    // Assess
    expect(first).toEqual({ unconfirmed: 2, reservations: 2, steps: 2 });
    expect(again, 'nothing is held or running any more: a second call changes nothing').toEqual({
      unconfirmed: 0,
      reservations: 0,
      steps: 0,
    });
    for (const [i, id] of runs.slice(0, 2).entries()) {
      const execution = (await db.store.getExecution(id))!;
      expect(execution.costMicros, 'the in-flight call is charged once, at its hold').toBe(40_000 + i);
      expect(execution.reservedMicros).toBe(0);
      const costs = await db.store.listCosts(id);
      expect(costs).toHaveLength(1);
      expect(costs[0]).toMatchObject({
        kind: 'llm',
        usdMicros: 40_000 + i,
        confirmed: false,
        stateName: 'Plan',
      });
      const [step] = await db.store.listSteps(id);
      expect(step).toMatchObject({ status: 'failed', costMicros: 40_000 + i });
      expect(step!.error).toEqual({ error: 'wflo.Interrupted', cause: `run ${i} was cut off` });
      expect(await db.store.listHeldReservations(id)).toEqual([]);
    }
    for (const [i, id] of runs.entries()) {
      const events = await db.store.listEvents(id, 0, 100);
      const resumed = events.filter((e) => e.type === 'execution.resumed');
      expect(resumed.map((e) => e.payload)).toEqual([
        { executionId: id, previousOwner: i < 2 ? 'host/1/dead' : null },
        { executionId: id, previousOwner: i < 2 ? 'host/1/dead' : null },
      ]);
      const recorded = events.filter((e) => e.type === 'cost.recorded');
      expect(recorded).toHaveLength(i < 2 ? 1 : 0);
      if (i < 2) expect(recorded[0]!.payload).toMatchObject({ confirmed: false, reason: 'the process died' });
    }
    expect((await db.store.getExecution(runs[2]!))!.costMicros).toBe(0);
  });
});

describe('Store: readJournals and writeJournals', () => {
  it('reads and writes many executions’ records in one call each, the last of a repeated key winning', async () => {
    // Prepare
    const [a, b, none] = [await running(null), await running(null), await running(null)];
    await db.store.writeJournal(a, 'x', { startedAt: 1 });

    // Act
    await db.store.writeJournals([
      { executionId: a, key: 's:One#1', value: { attempt: 0, counts: [] } },
      { executionId: b, key: 's:One#1', value: { attempt: 2, counts: [1] } },
      { executionId: a, key: 's:One#1', value: { attempt: 1, counts: [] } },
      { executionId: b, key: 'w:Pause#1', value: { until: 42 } },
    ]);
    await db.store.writeJournals([]);
    const journals = await db.store.readJournals([a, b, none]);

    // Assess
    expect(journals.get(a)).toEqual({ x: { startedAt: 1 }, 's:One#1': { attempt: 1, counts: [] } });
    expect(journals.get(b)).toEqual({ 's:One#1': { attempt: 2, counts: [1] }, 'w:Pause#1': { until: 42 } });
    expect(journals.get(none)).toEqual({});
    expect(await db.store.readJournal(a)).toEqual(journals.get(a));
    expect((await db.store.readJournals([])).size).toBe(0);
  });
});
