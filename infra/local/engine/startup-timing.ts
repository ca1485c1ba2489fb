/*
 * Where a start's time goes (`wflo dev --verbose`, or WFLO_VERBOSE=1): each step of the start path records
 * when it began and ended, relative to the process's own start (performance.now() counts from it), so the
 * breakdown also shows what Node and the TypeScript loader took before any wflo code ran. Steps that run in
 * parallel (the store opening while the handler modules load) overlap in the breakdown; the total is the
 * wall-clock time to serving.
 */

interface Step {
  readonly name: string;
  readonly start: number;
  end?: number;
}

const steps: Step[] = [];

/** Records a step of the start that has just begun; call the returned function when it ends. */
export function startupStep(name: string): () => void {
  const step: Step = { name, start: performance.now() };
  steps.push(step);
  return () => {
    step.end ??= performance.now();
  };
}

/** Times a promise as one start-up step; resolves or rejects as it does. */
export async function timedStartupStep<T>(name: string, work: Promise<T> | (() => Promise<T>)): Promise<T> {
  const end = startupStep(name);
  try {
    return await (typeof work === 'function' ? work() : work);
  } finally {
    end();
  }
}

/** Records an instant (e.g. "CLI loaded"): a step that began at the process's start. */
export function startupMark(name: string): void {
  steps.push({ name, start: 0, end: performance.now() });
}

/** Milliseconds since the process started. */
export function sinceProcessStart(): number {
  return performance.now();
}

/**
 * The breakdown as lines: each step's start, end and duration in ms since the process started, in the
 * order they began (a step still going shows `…`).
 */
export function startupBreakdown(): string[] {
  const width = Math.max(...steps.map((s) => s.name.length), 10);
  return [...steps]
    .sort((a, b) => a.start - b.start)
    .map((s) => {
      const span = s.end === undefined ? '…' : `${Math.round(s.end - s.start)} ms`;
      const at = `${Math.round(s.start)}–${s.end === undefined ? '…' : Math.round(s.end)}`;
      return `${s.name.padEnd(width)}  ${span.padStart(8)}  (at ${at} ms)`;
    });
}

/** Forgets every step (tests). */
export function resetStartupTiming(): void {
  steps.length = 0;
}

/** Records a step whose start and end were taken elsewhere (e.g. from a library's log lines). */
export function startupSpan(name: string, start: number, end: number): void {
  steps.push({ name, start, end });
}
