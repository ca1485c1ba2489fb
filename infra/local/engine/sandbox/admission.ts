/** Gives back the slot an admitted run held. Calling it twice is harmless. */
export type Release = () => void;

/** Why a run left the queue without a slot. */
export type NotAdmitted = 'timeout' | 'abort';

interface Waiter {
  readonly admit: (release: Release) => void;
  readonly leave: (reason: NotAdmitted) => void;
}

/**
 * At most `limit` holders at once; the rest wait in arrival order (FIFO) until a slot frees, their
 * deadline passes or their signal aborts. In-process and synchronous about its bookkeeping (Node's
 * single thread), so no slot is lost or handed out twice.
 *
 * @example
 * const admission = new Admission(2);
 * const slot = await admission.acquire(5_000);
 * if (typeof slot === 'function') try { await work(); } finally { slot(); }
 */
export class Admission {
  readonly limit: number;
  #running = 0;
  readonly #queue: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError('admission limit must be an integer >= 1');
    this.limit = limit;
  }

  /** Holders now. */
  get running(): number {
    return this.#running;
  }

  /** Waiting now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * A slot, at once when one is free, else when the runs ahead of this one have gone; or why not,
   * when `waitMs` passes or `signal` aborts first.
   */
  acquire(waitMs: number, signal?: AbortSignal): Promise<Release | NotAdmitted> {
    if (signal?.aborted) return Promise.resolve('abort');
    if (this.#running < this.limit && this.#queue.length === 0) {
      this.#running++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
      };
      const waiter: Waiter = {
        admit: (release) => {
          done();
          resolve(release);
        },
        leave: (reason) => {
          done();
          resolve(reason);
        },
      };
      const onAbort = (): void => waiter.leave('abort');
      const timer = setTimeout(() => waiter.leave('timeout'), Math.max(0, waitMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  #releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue[0];
      // The slot passes straight to the first waiter: no newcomer can take it in between.
      if (next) next.admit(this.#releaser());
      else this.#running--;
    };
  }
}
