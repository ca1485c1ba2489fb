import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const IMAGE = fileURLToPath(new URL('../../../sandbox-image/', import.meta.url));

/** Every module specifier a source file names: static and dynamic imports, and re-exports. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g))
    found.push(m[1]!);
  for (const m of source.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('sandbox-image/src: self-contained (its directory is the Docker build context)', () => {
  it('finds the specifiers of static imports, type imports, re-exports and dynamic imports', () => {
    // Prepare: one of each form the check must see
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../../functions/shared/ports/sandbox.ts';",
      "export { c } from '#shared/c';",
      "import './side-effect.ts';",
      "const d = await import('node:fs');",
    ].join('\n');

    // Act + Assess
    expect(specifiers(text)).toEqual([
      './a.ts',
      '../../functions/shared/ports/sandbox.ts',
      '#shared/c',
      './side-effect.ts',
      'node:fs',
    ]);
  });

  it('imports nothing from outside sandbox-image/ (not even types) and no repo alias', () => {
    // Prepare
    const outside: string[] = [];

    // Act
    for (const file of sources(join(IMAGE, 'src'))) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const where = `${relative(IMAGE, file)} → ${spec}`;
        if (spec.startsWith('#')) outside.push(where);
        else if (spec.startsWith('.') && relative(IMAGE, resolve(dirname(file), spec)).startsWith('..'))
          outside.push(where);
      }
    }

    // Assess
    expect(outside).toEqual([]);
  });
});
