/**
 * `npm run bench -- [name ...]`: runs the named benchmarks (all when none is named), prints each one's
 * figures next to its baseline and targets, and writes tests/bench/results/<name>.json.
 * Exits 0 even when a target is missed: the figures are the product, CI prints them.
 */
import { readdirSync } from 'node:fs';
import { type BenchResult, report } from './lib.ts';

process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';

const here = new URL('.', import.meta.url).pathname;
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'lib.ts'].includes(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = requested.filter((r) => !available.includes(r));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const missed: string[] = [];
for (const name of requested.length ? requested : available) {
  const mod = (await import(`./${name}.ts`)) as { run?: () => Promise<BenchResult> };
  if (typeof mod.run !== 'function') continue;
  const result = await mod.run();
  report(result);
  for (const [k, t] of Object.entries(result.targets)) if (!t.ok) missed.push(`${name}: ${k}`);
}
console.log(missed.length ? `\ntargets missed: ${missed.join('; ')}` : '\nall targets met');
