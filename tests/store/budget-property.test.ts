import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS } from '#shared/events/catalogue';
import { projectExecutionEnd } from '#shared/execution-end';
import { holdStep } from '#shared/middleware/budget';
import { fargateMicros, lambdaComputeMicros } from '#shared/pricing/aws';
import type { StepInfo } from '#shared/step-context';
import { openTestStore } from '../helpers/database.ts';

/** mulberry32: a seeded generator, so a failing case can be replayed from the seed in the message. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let db: Awaited<ReturnType<typeof openTestStore>>;
beforeAll(async () => {
  db = await openTestStore();
});
afterAll(async () => {
  await db.close();
});

const TRIALS = 24;

/**
 * One random workflow on the store, driven through the same calls the activities make: each step takes
 * the middleware's holds (holdStep), then spends as a model call (settled below, at or above its worst case,
 * abandoned, or failed), a cache hit, or a sandbox task, with random retries; Map fan-outs run their
 * iterations concurrently. After every store call the execution row is read and the invariant checked.
 */
async function runWorkflow(seed: number) {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const id = `prop-${seed}`;
  const budget = int(500, 40_000);
  await db.store.createExecution({ id, workflow: 'prop', input: {}, budgetMicros: budget });
  // What may legitimately exceed the budget: a refused attempt's own invocation (named residue).
  let residue = 0;
  let transitions = 0;
  const violations: string[] = [];
  const check = async (where: string) => {
    const row = (await db.store.getExecution(id))!;
    if (row.costMicros + row.reservedMicros > budget + row.overrunMicros + residue) {
      violations.push(
        `${where}: settled ${row.costMicros} + reserved ${row.reservedMicros} > budget ${budget} + overrun ${row.overrunMicros} + residue ${residue}`,
      );
    }
  };

  let entry = 0;
  const runStep = async (stateName: string, item: string) => {
    const enteredAt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, entry++)).toISOString();
    const bound = int(1, 6);
    let entered = false;
    const retries = r() < 0.2 ? int(1, 2) : 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const row = await db.store.beginStep({
        executionId: id,
        stateName,
        activity: 'llm-invoke',
        enteredAt,
        item,
        attempt,
      });
      const step: StepInfo = {
        stepId: row.id,
        executionId: id,
        workflow: 'prop',
        stateName,
        enteredTime: enteredAt,
        item,
        attempt,
        resultKey: `${id}/${stateName}/${enteredAt}/${item}`,
      };
      const memory = [128, 256, 512][int(0, 2)]!;
      const remaining = int(100, 60_000);
      let computeKey: string | undefined;
      try {
        ({ computeKey } = await holdStep(
          db.store,
          'llm-invoke',
          step,
          { memoryLimitInMB: String(memory), getRemainingTimeInMillis: () => remaining },
          bound,
        ));
      } catch {
        // Refused before it started: only the refusing invocation itself is charged.
        const refusing = lambdaComputeMicros(memory, 1);
        residue += refusing;
        await db.store.completeStep({
          stepId: row.id,
          status: 'failed',
          durationMs: 1,
          computeMicros: refusing,
        });
        await check(`${stateName} refused`);
        return;
      }
      await check(`${stateName} held`);
      // The entry's transitions happen within the bound its Task carries (counted once per entry).
      if (!entered) transitions += int(1, bound);
      entered = true;
      const kind = r();
      const failed = attempt < retries;
      if (kind < 0.6) {
        const worst = int(1, 3_000);
        const key = `${step.resultKey}/${attempt}`;
        const held = await db.store.reserveBudget({
          key,
          executionId: id,
          amountMicros: worst,
          stepId: row.id,
          stateName,
          provider: 'p',
          model: 'm',
        });
        await check(`${stateName} llm held`);
        if (held.ok) {
          const outcome = r();
          if (failed || outcome < 0.1) await db.store.releaseBudget(key);
          else if (outcome < 0.2) await db.store.recordUnconfirmed(key, 'client timeout');
          else {
            // Mostly at or below the worst case; sometimes a provider reports more (overrun).
            const actual = outcome < 0.3 ? worst + int(1, 2_000) : int(0, worst);
            await db.store.recordCost(
              {
                executionId: id,
                stepId: row.id,
                stateName,
                kind: 'llm',
                provider: 'p',
                model: 'm',
                usdMicros: actual,
                idempotencyKey: `${step.resultKey}/cost`,
              },
              [],
              { reservationKey: key },
            );
          }
          await check(`${stateName} llm settled`);
        }
      } else if (kind < 0.75) {
        await db.store.recordCost({
          executionId: id,
          stepId: row.id,
          stateName,
          kind: 'llm',
          usdMicros: 0,
          savedMicros: int(1, 500),
          idempotencyKey: `${step.resultKey}/cost`,
        });
        await check(`${stateName} cache hit`);
      } else {
        const seconds = int(1, 300);
        const key = `sandbox:${step.resultKey}/${attempt}`;
        const held = await db.store.reserveBudget({
          key,
          executionId: id,
          amountMicros: fargateMicros(0.5, 1, seconds * 1000),
          kind: 'sandbox',
        });
        await check(`${stateName} sandbox held`);
        if (held.ok) {
          await db.store.recordCost(
            {
              executionId: id,
              stepId: row.id,
              stateName,
              kind: 'sandbox',
              usdMicros: fargateMicros(0.5, 1, int(1, seconds) * 1000),
              idempotencyKey: `${key}/cost`,
            },
            [],
            { reservationKey: key },
          );
          await check(`${stateName} sandbox settled`);
        }
      }
      const durationMs = int(1, remaining);
      await db.store.completeStep({
        stepId: row.id,
        status: failed ? 'failed' : 'succeeded',
        durationMs,
        computeMicros: lambdaComputeMicros(memory, durationMs),
        ...(computeKey ? { reservationKey: computeKey } : {}),
      });
      await check(`${stateName} closed`);
    }
  };

  const shape = int(2, 6);
  for (let s = 0; s < shape; s++) {
    if (r() < 0.35) {
      const width = int(2, 12);
      await Promise.all(Array.from({ length: width }, (_, i) => runStep(`Map${s}`, String(i))));
    } else {
      await runStep(`Step${s}`, '');
    }
  }
  // The end-of-run transition charge settles the transition holds; its count is at most what was held.
  await projectExecutionEnd(db.store, id, { status: 'succeeded' }, transitions);
  await check('end');
  const row = (await db.store.getExecution(id))!;
  const ledger = await db.store.listCosts(id);
  const overrunEvents = (await db.store.listEvents(id, 0, 10_000)).filter(
    (e) => e.type === EVENTS.budgetOverrun,
  );
  const explained = overrunEvents.reduce(
    (s, e) => s + (e.payload as { overrunMicros: number }).overrunMicros,
    0,
  );
  return { budget, residue, row, ledger, explained, violations };
}

describe('Property: a run never holds and spends more than its budget', () => {
  it(`settled + reserved <= budget at every point, over ${TRIALS} random workflows (fan-outs, retries, sandbox, cache)`, async () => {
    for (let seed = 1; seed <= TRIALS; seed++) {
      // Act
      const { budget, residue, row, ledger, explained, violations } = await runWorkflow(seed);

      // Assess
      expect(violations, `seed ${seed}`).toEqual([]);
      expect(
        ledger.reduce((s, c) => s + c.usdMicros, 0),
        `seed ${seed}`,
      ).toBe(row.costMicros);
      expect(row.reservedMicros, `seed ${seed}`).toBe(0);
      // Over the budget only by what overrun events explain, and the refusals' own invocations.
      expect(explained, `seed ${seed}`).toBe(row.overrunMicros);
      expect(row.costMicros, `seed ${seed}`).toBeLessThanOrEqual(budget + row.overrunMicros + residue);
    }
  }, 600_000);
});
