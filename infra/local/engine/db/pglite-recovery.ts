import { startupSpan } from '../startup-timing.ts';

/*
 * PostgreSQL's own account of a crash recovery when PGlite opens a data directory that was not shut down
 * cleanly (kill -9, power loss): the WAL replayed (from the last checkpoint's redo point to the end of the
 * WAL) and how long it took. It goes into `wflo dev --verbose`'s start-up breakdown, so the part of a start
 * that recovery takes is measured, not guessed.
 */

const LSN = /([0-9A-F]+)\/([0-9A-F]+)/;

function lsnBytes(text: string): number | undefined {
  const m = LSN.exec(text);
  return m ? Number.parseInt(m[1]!, 16) * 2 ** 32 + Number.parseInt(m[2]!, 16) : undefined;
}

/** A PGlite `onStderr` handler that records the recovery, if there is one, as a start-up step. */
export function recoveryObserver(): (text: string) => boolean {
  let began: number | undefined;
  let redoFrom: number | undefined;
  return (text) => {
    if (text.includes('automatic recovery in progress')) began = performance.now();
    else if (began !== undefined && text.includes('redo starts at'))
      redoFrom = lsnBytes(text.split('redo starts at')[1]!);
    else if (
      began !== undefined &&
      (text.includes('redo done at') || text.includes('redo is not required'))
    ) {
      const redoTo = text.includes('redo done at') ? lsnBytes(text.split('redo done at')[1]!) : undefined;
      const kb = redoFrom !== undefined && redoTo !== undefined ? Math.round((redoTo - redoFrom) / 1024) : 0;
      startupSpan(`store crash recovery (${kb} KB of WAL replayed)`, began, performance.now());
      began = undefined;
    }
    // PGlite prints nothing more either way.
    return false;
  };
}
