/**
 * The agent-loop protocol: the model ends a reply with `NEXT: <what remains>` to ask for another turn, or
 * `FINAL: <answer>` when done. A reply with neither is treated as final, so a model that ignores the
 * protocol cannot loop forever.
 */
export interface AgentDirective {
  readonly continue: boolean;
  readonly final: string | null;
  readonly next: string | null;
}

export function parseDirective(text: string): AgentDirective {
  const lines = text.trim().split(/\r?\n/).reverse();
  for (const line of lines) {
    const m = /^\s*(FINAL|NEXT)\s*:\s*(.*)$/i.exec(line);
    if (!m) continue;
    const value = m[2]!.trim();
    return m[1]!.toUpperCase() === 'NEXT'
      ? { continue: true, final: null, next: value }
      : { continue: false, final: value, next: null };
  }
  return { continue: false, final: text.trim(), next: null };
}
