// No imports on purpose: the CLI reads this before it decides which heavier modules a command needs.

/** What a (re)scan of the workflow folder did to one file. */
export type WorkflowChange =
  | {
      readonly kind: 'added' | 'updated' | 'removed';
      readonly name: string;
      readonly file: string;
      readonly initial: boolean;
    }
  | {
      readonly kind: 'refused';
      readonly file: string;
      /** Why: the first failed check, naming the file (and the state, for a house rule). */
      readonly reason: string;
      /** The workflow of the same name still served from its previous good version, if any. */
      readonly serving: string | undefined;
      readonly initial: boolean;
    };

/** One line for the `wflo dev` console: what changed, or why a file was refused and what is served instead. */
export function describeChange(change: WorkflowChange): string {
  if (change.kind !== 'refused') return `wflo: workflow ${change.name} ${change.kind} (${change.file})`;
  const serving = change.serving
    ? `still serving the previous version of ${change.serving}`
    : 'not served until it is fixed';
  return `wflo: refused ${change.file}; ${serving}:\n${change.reason}`;
}
