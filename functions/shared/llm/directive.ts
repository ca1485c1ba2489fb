import type { SandboxLanguage } from '../ports/sandbox.ts';

/**
 * The agent-loop protocol: the model ends a reply with `NEXT: <what remains>` to ask for another turn, or
 * `FINAL: <answer>` when done. A reply with neither is treated as final, so a model that ignores the
 * protocol cannot loop forever.
 *
 * To run code, the model ends its reply with `RUN: python` (or `RUN: javascript`) after a fenced code block
 * in that language; the loop runs the last such block in the sandbox and answers with its exit code,
 * stdout and stderr as the next user turn:
 *
 * ````text
 * Let me compute it.
 * ```python
 * print(sum(range(10)))
 * ```
 * RUN: python
 * ````
 */
export interface AgentDirective {
  readonly continue: boolean;
  readonly final: string | null;
  readonly next: string | null;
  /** Present only when the reply asks to run a program (its last directive line is `RUN:`). */
  readonly run?: RunRequest;
}

/** A program the model asked the agent loop to run. */
export interface RunRequest {
  readonly language: SandboxLanguage;
  readonly code: string;
}

const DIRECTIVE = /^\s*(FINAL|NEXT|RUN)\s*:\s*(.*)$/i;
const FENCE = /^\s*(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)\s*$/;

/** Info strings of a fenced block, and the language each means. */
export const RUN_LANGUAGE_TAGS: Readonly<Record<string, SandboxLanguage>> = {
  python: 'python',
  python3: 'python',
  py: 'python',
  javascript: 'javascript',
  js: 'javascript',
  node: 'javascript',
};

/**
 * Reads the directive of a reply from its last directive line (`NEXT:`, `FINAL:` or a runnable `RUN:`).
 * @example parseDirective('```python\nprint(1)\n```\nRUN: python').run // { language: 'python', code: 'print(1)\n' }
 */
export function parseDirective(text: string): AgentDirective {
  const lines = text.trim().split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) continue;
    const kind = m[1]!.toUpperCase();
    const value = m[2]!.trim();
    if (kind === 'RUN') {
      const run = runRequest(lines.slice(0, i), value);
      // A RUN without a block to run is no directive: the lines above decide.
      if (run) return { continue: true, final: null, next: null, run };
      continue;
    }
    return kind === 'NEXT'
      ? { continue: true, final: null, next: value }
      : { continue: false, final: value, next: null };
  }
  return { continue: false, final: text.trim(), next: null };
}

/**
 * The last fenced code block in `lines` whose info string names `language` (`python`, `py`, `javascript`,
 * `js`...); with an empty `language`, the last block in any known language. Undefined when there is none.
 */
function runRequest(lines: readonly string[], language: string): RunRequest | undefined {
  const wanted = language === '' ? undefined : RUN_LANGUAGE_TAGS[language.toLowerCase()];
  if (language !== '' && wanted === undefined) return undefined;
  let found: RunRequest | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const tag = RUN_LANGUAGE_TAGS[open[2]!.toLowerCase()];
    let end = i + 1;
    // A closing fence: the same character, at least as long, nothing after it.
    while (end < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!))
      end++;
    if (end >= lines.length) break; // unclosed: not a block
    if (tag !== undefined && (wanted === undefined || tag === wanted)) {
      found = { language: tag, code: `${lines.slice(i + 1, end).join('\n')}\n` };
    }
    i = end;
  }
  return found;
}
