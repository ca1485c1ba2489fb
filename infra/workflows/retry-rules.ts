import type { AslDefinition, Catcher, Retrier } from './asl.ts';
import { walkStates } from './asl.ts';

/*
 * The Retry and Catch rules of the States Language that asl-validator 4 does not check, and that Step Functions
 * enforces at CreateStateMachine: `States.ALL` appears alone in its `ErrorEquals` and only in the last retrier
 * or catcher, and a `BackoffRate` is at least 1.0. A definition that breaks one is refused at load (both
 * targets), naming the file and the state, instead of being run with a meaning AWS would never give it.
 *
 * @see https://states-language.net/spec.html#error-names
 * @see https://states-language.net/spec.html#retrying-after-error
 */

/** Every broken Retry/Catch rule of a definition, as `state: message` lines. */
export function retryCatchProblems(definition: AslDefinition): string[] {
  const out: string[] = [];
  walkStates(definition, (name, state) => {
    const lists: [string, readonly (Retrier | Catcher)[] | undefined][] = [
      ['Retry', state.Retry],
      ['Catch', state.Catch],
    ];
    for (const [field, list] of lists) {
      (list ?? []).forEach((entry, i) => {
        const names = Array.isArray(entry.ErrorEquals) ? entry.ErrorEquals : [];
        if (names.includes('States.ALL')) {
          if (names.length > 1) {
            out.push(
              `state '${name}': ${field}[${i}] lists States.ALL with other errors; it must appear alone`,
            );
          }
          if (i !== list!.length - 1) {
            out.push(`state '${name}': ${field}[${i}] has States.ALL but is not the last ${field} entry`);
          }
        }
        const rate = (entry as Retrier).BackoffRate;
        if (field === 'Retry' && typeof rate === 'number' && rate < 1) {
          out.push(`state '${name}': Retry[${i}].BackoffRate is ${rate}; it must be at least 1.0`);
        }
      });
    }
  });
  return out;
}

/** Throws naming the source and every broken Retry/Catch rule; see {@link retryCatchProblems}. */
export function assertRetryCatchRules(source: string, definition: AslDefinition): void {
  const problems = retryCatchProblems(definition);
  if (problems.length > 0) throw new Error(`${source}: invalid Retry/Catch: ${problems.join('; ')}`);
}
