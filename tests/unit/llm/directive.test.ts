import { describe, expect, it } from 'vitest';
import { parseDirective } from '#shared/llm/directive';

describe('Function: parseDirective (RUN)', () => {
  it('reads RUN: python after a ```python block as a request to run that block, continuing the loop', () => {
    expect(parseDirective('Let me check.\n```python\nprint(sum(range(10)))\n```\nRUN: python')).toEqual({
      continue: true,
      final: null,
      next: null,
      run: { language: 'python', code: 'print(sum(range(10)))\n' },
    });
  });

  it('takes the last block in the language named, with its usual tags (py, js, node), keeping indentation', () => {
    const text = [
      '```py',
      'print(1)',
      '```',
      '```js',
      'console.log(1)',
      '```',
      '```python',
      'for i in range(2):',
      '    print(i)',
      '```',
      'RUN: Python',
    ].join('\n');
    expect(parseDirective(text).run).toEqual({
      language: 'python',
      code: 'for i in range(2):\n    print(i)\n',
    });
    expect(parseDirective(text.replace('RUN: Python', 'RUN: javascript')).run).toEqual({
      language: 'javascript',
      code: 'console.log(1)\n',
    });
    expect(parseDirective('~~~node\nconsole.log(2)\n~~~\nRUN:').run).toEqual({
      language: 'javascript',
      code: 'console.log(2)\n',
    });
  });

  it('keeps a longer fence open across shorter ones inside it', () => {
    const text = '````python\ns = """\n```\n"""\nprint(len(s))\n````\nRUN: python';
    expect(parseDirective(text).run?.code).toBe('s = """\n```\n"""\nprint(len(s))\n');
  });

  it('is decided by the last directive line: a FINAL or NEXT after RUN wins', () => {
    expect(parseDirective('```python\nprint(1)\n```\nRUN: python\nFINAL: done')).toEqual({
      continue: false,
      final: 'done',
      next: null,
    });
    expect(parseDirective('```python\nprint(1)\n```\nRUN: python\nNEXT: more')).toMatchObject({
      continue: true,
      next: 'more',
    });
    expect(parseDirective('```python\nprint(1)\n```\nRUN: python\nNEXT: more').run).toBeUndefined();
  });

  it('ignores a RUN with nothing runnable (no block, unclosed block, other language, unknown language)', () => {
    expect(parseDirective('NEXT: go on\nRUN: python')).toEqual({
      continue: true,
      final: null,
      next: 'go on',
    });
    const unclosed = parseDirective('```python\nprint(1)\nRUN: python');
    expect(unclosed.continue).toBe(false);
    expect(unclosed).not.toHaveProperty('run');
    expect(parseDirective('```ruby\nputs 1\n```\nRUN: python').run).toBeUndefined();
    expect(parseDirective('```python\nprint(1)\n```\nRUN: cobol').run).toBeUndefined();
  });

  it('leaves replies without RUN exactly as before (no run field)', () => {
    expect(parseDirective('working\nNEXT: step 2')).toStrictEqual({
      continue: true,
      final: null,
      next: 'step 2',
    });
    expect(parseDirective('just an answer')).toStrictEqual({
      continue: false,
      final: 'just an answer',
      next: null,
    });
  });
});
