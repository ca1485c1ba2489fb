import { describe, expect, it, vi } from 'vitest';
import type { Store } from '#shared/ports/store';
import type { InterpreterClock } from '../../infra/local/engine/interpreter/interpreter.ts';
import { LocalOrchestrator } from '../../infra/local/engine/orchestrator.ts';
import type { Workflow } from '../../infra/local/engine/workflows.ts';
import { useTestStore } from '../helpers/store-fixture.ts';

/*
 * A clean stop lets go of its runs (detachAll: each lease set to lapse at once) after stopping the lease timer.
 * A renewal the timer fired just before is a write no one awaited: the embedded store's group commit runs the
 * statements of the callers answered most recently first, so it may land after the let-go and give the runs a
 * whole lease again (on PostgreSQL, two pool connections never ordered them either). close() waits for it.
 */

const db = useTestStore('lease-detach');

/** Sleeps that end only when aborted: the run waits in its Wait state until the orchestrator lets go. */
const idleClock: InterpreterClock = {
  now: () => Date.now(),
  sleep: (_ms, signal) =>
    new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
};

const wf: Workflow = {
  name: 'lease-detach',
  description: 'lease-detach',
  file: 'lease-detach.asl.json',
  definition: { StartAt: 'Pause', States: { Pause: { Type: 'Wait', Seconds: 3600, End: true } } } as never,
  variables: [],
};

/** Event-loop turns (no timers): long enough for a drive to stop and its let-go to be written. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

describe('Leases: a clean stop lets go of its runs even with a renewal in flight', () => {
  it('a renewal fired before close() does not land after detachAll and re-lease the runs', async () => {
    // Prepare: the renewal the timer fires is held back, as a statement queued behind newer ones would be
    const store = db.store;
    let land: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      land = r;
    });
    const writes: string[] = [];
    const slow = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'renewLeases')
          return async (...args: Parameters<Store['renewLeases']>) => {
            await held;
            writes.push('renew');
            return target.renewLeases(...args);
          };
        if (property === 'claimExecution')
          return (...args: Parameters<Store['claimExecution']>) => {
            writes.push('let go');
            return target.claimExecution(...args);
          };
        return value;
      },
    });
    const leaseMs = 60_000;
    const orchestrator = new LocalOrchestrator({
      workflows: new Map([[wf.name, wf]]),
      functions: new Map(),
      store: slow,
      clock: idleClock,
      leaseMs,
      owner: 'lease-detach-owner',
    });
    const id = db.newId();
    await store.createExecution({ id, workflow: wf.name, input: {}, running: true });
    expect(await store.claimExecution({ id, owner: 'lease-detach-owner', leaseMs })).toBe(true);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      orchestrator.start(wf.name, id, {}, { claimed: true });
      orchestrator.startLeases({ sweep: false });
      vi.advanceTimersByTime(leaseMs / 3); // the timer fires one renewal, held
      // Act: the stop as runtime.ts does it; the renewal lands once the let-go had its chance to run first
      const stopped = orchestrator.close().then(() => orchestrator.detachAll());
      await Promise.race([stopped, turns(500)]);
      land();
      await stopped;
    } finally {
      vi.useRealTimers();
    }
    // Assess: the renewal was written before the let-go, and the run's lease lapses now, not a lease from now
    expect(writes).toEqual(['renew', 'let go']);
    const [row] = (await store.listUnowned({ owner: 'someone-else', limit: 10_000 })).filter(
      (r) => r.id === id,
    );
    expect(row?.leaseExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY).toBeLessThan(Date.now() + 1_000);
  }, 60_000);
});
