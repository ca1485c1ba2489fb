import type { AslDefinition, AslState } from './asl.ts';
import { transitionsOf } from './asl.ts';

/**
 * The Payload field each Lambda Task gets at load time: how many state transitions entering this state can
 * cause before the next activity takes over. The activity's budget middleware holds that many transitions'
 * price against the run's budget before the step spends anything (functions/shared/middleware/budget.ts).
 */
export const TRANSITIONS_FIELD = 'transitionsAhead';

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

/** A Lambda Task: the states whose handler runs the activity middleware (the only place a hold is taken). */
function isActivity(state: AslState): boolean {
  return (
    state.Type === 'Task' && typeof state.Resource === 'string' && state.Resource.startsWith(LAMBDA_INVOKE)
  );
}

function nested(state: AslState): AslDefinition[] {
  return [state.ItemProcessor, state.Iterator, ...(state.Branches ?? [])].filter(
    (d): d is AslDefinition => d !== undefined,
  );
}

/**
 * The most states an execution can enter from `name` (inclusive) within `def` before it enters an activity,
 * or leaves `def`: an activity counts 0 (it holds its own), a Parallel adds each branch's lead-in, a Map its
 * processor's lead-in once (each iteration's first activity holds its own lead-in again, see
 * {@link transitionBounds}). Infinity when a loop without an activity can be entered (Wait/Choice polling).
 */
function tail(def: AslDefinition, name: string, onPath: Set<string>): number {
  const state = def.States[name];
  if (!state || isActivity(state)) return 0;
  if (onPath.has(name)) return Number.POSITIVE_INFINITY;
  onPath.add(name);
  let inner = 0;
  for (const d of nested(state)) inner += tail(d, d.StartAt, new Set());
  let next = 0;
  for (const t of transitionsOf(state)) next = Math.max(next, tail(def, t, onPath));
  onPath.delete(name);
  return 1 + inner + next;
}

/**
 * The most states entered from `def.StartAt` to `target` through non-activity states only (the lead-in
 * the first activity of a run, or of a Map iteration or Parallel branch, holds for), 0 when `target` is not
 * reached that way.
 */
function leadIn(def: AslDefinition, target: string): number {
  let best = 0;
  const walk = (name: string, depth: number, onPath: Set<string>): void => {
    if (name === target) {
      best = Math.max(best, depth);
      return;
    }
    const state = def.States[name];
    if (!state || isActivity(state) || onPath.has(name)) return;
    onPath.add(name);
    for (const t of transitionsOf(state)) walk(t, depth + 1, onPath);
    onPath.delete(name);
  };
  walk(def.StartAt, 0, new Set());
  return best;
}

/**
 * For every Lambda Task of a definition (Map processors and Parallel branches included), the number of
 * state transitions entering it can cause before the next activity holds its own: the lead-in from its
 * definition's start (when it is reached without an activity before it), its own entry, and the longest
 * path of non-activity states after it (Next, Choice rules, Catch targets; ECS and other non-Lambda Tasks
 * count as one state each). `null` when a loop without an activity follows it: that loop is not bounded.
 * Retries are not counted: Step Functions records no new state entry for them, and wflo charges entries.
 * Pure: the same definition always gives the same bounds (the CDK app and the local engine both call it).
 */
export function transitionBounds(definition: AslDefinition): Map<string, number | null> {
  const bounds = new Map<string, number | null>();
  const visit = (def: AslDefinition): void => {
    for (const [name, state] of Object.entries(def.States ?? {})) {
      for (const d of nested(state)) visit(d);
      if (!isActivity(state)) continue;
      let after = 0;
      for (const t of transitionsOf(state)) after = Math.max(after, tail(def, t, new Set()));
      bounds.set(name, Number.isFinite(after) ? leadIn(def, name) + 1 + after : null);
    }
  };
  visit(definition);
  return bounds;
}

/**
 * The definition with {@link TRANSITIONS_FIELD} set in the Payload of every Lambda Task whose bound is
 * finite (a copy; the input is untouched). Payload is where the bound travels, not the function's
 * environment: one function serves every workflow and state, and the value belongs to the state.
 */
export function withTransitionBounds(definition: AslDefinition): AslDefinition {
  const bounds = transitionBounds(definition);
  const copy = structuredClone(definition);
  const visit = (def: AslDefinition): void => {
    for (const [name, state] of Object.entries(def.States ?? {})) {
      for (const d of nested(state)) visit(d);
      const bound = bounds.get(name);
      const payload = state.Parameters?.Payload;
      if (bound == null || typeof payload !== 'object' || payload === null || Array.isArray(payload))
        continue;
      (payload as Record<string, unknown>)[TRANSITIONS_FIELD] = bound;
    }
  };
  visit(copy);
  return copy;
}
