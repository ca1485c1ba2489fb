import { type FSWatcher, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { isWorkflowFile } from '../../workflows/files.ts';
import type { LocalOrchestrator } from './orchestrator.ts';
import type { WorkflowChange } from './workflow-change.ts';
import { loadWorkflowFile } from './workflows.ts';

export type { WorkflowChange } from './workflow-change.ts';

export interface WorkflowWatcherOptions {
  /** Told of every change, the first scan's included (`initial: true`). */
  readonly onChange: (change: WorkflowChange) => void;
  /** Substitutions for the files (@default the local bindings). */
  readonly bindings?: Record<string, string>;
  /**
   * Quiet period after a file-system event before the folder is read again: an editor's save is several
   * events (truncate, write, rename), and reading in the middle would refuse a half-written file. @default 75
   */
  readonly settleMs?: number;
}

export interface WorkflowWatcher {
  /** Reads the folder now and applies what changed (the watcher calls this itself after each event). */
  rescan(): void;
  close(): void;
}

/**
 * Keeps an orchestrator's workflows in step with a folder of `*.asl.json` files, for `wflo dev`: a new file is
 * checked (the same checks as `cdk synth`, infra/workflows/check.ts) and served, a changed one replaces its
 * previous version only when it passes, a broken one is refused while the previous good version keeps serving,
 * a deleted one stops being served. Scans once at start (`initial: true`), so it can also do the first load.
 */
export function watchWorkflows(
  dir: string,
  orchestrator: LocalOrchestrator,
  options: WorkflowWatcherOptions,
): WorkflowWatcher {
  /** Last text seen per file path, good or refused: an event that leaves a file unchanged does nothing. */
  const seen = new Map<string, string>();
  /** Files whose workflow is served, by path. */
  const served = new Map<string, string>();
  let initial = true;

  const rescan = (): void => {
    const present = new Set(
      readdirSync(dir)
        .filter(isWorkflowFile)
        .sort()
        .map((f) => join(dir, f)),
    );
    for (const file of [...seen.keys()].filter((f) => !present.has(f))) {
      seen.delete(file);
      const name = served.get(file);
      served.delete(file);
      if (name && orchestrator.unload(name)) options.onChange({ kind: 'removed', name, file, initial });
    }
    for (const file of present) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue; // gone between the listing and the read: the next event removes it
      }
      if (seen.get(file) === text) continue;
      seen.set(file, text);
      try {
        const workflow = loadWorkflowFile(file, options.bindings);
        const kind = orchestrator.load(workflow);
        served.set(file, workflow.name);
        options.onChange({ kind, name: workflow.name, file, initial });
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        options.onChange({ kind: 'refused', file, reason, serving: served.get(file), initial });
      }
    }
    initial = false;
  };

  rescan();
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dir, { persistent: false }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        rescan();
      } catch (error) {
        // The folder itself went away or became unreadable: say so, keep serving what is loaded.
        options.onChange({
          kind: 'refused',
          file: dir,
          reason: error instanceof Error ? error.message : String(error),
          serving: undefined,
          initial: false,
        });
      }
    }, options.settleMs ?? 75);
  });
  return {
    rescan,
    close: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
