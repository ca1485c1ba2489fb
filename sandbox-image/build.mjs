#!/usr/bin/env node
// Bundles the runner and the shared sandbox core into one dependency-free ESM file.
// Usage: node sandbox-image/build.mjs [--outfile <path>]   (default: sandbox-image/dist/runner.mjs)
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const i = process.argv.indexOf('--outfile');
const outfile = i === -1 ? `${here}dist/runner.mjs` : process.argv[i + 1];

await build({
  entryPoints: [`${here}src/runner.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Node 20 on a laptop, Node 22 in the image.
  target: 'node20',
  // Readable on purpose: this is the one file that touches untrusted code, keep it auditable.
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: '// wflo sandbox runner (bundled by sandbox-image/build.mjs; do not edit)' },
});
console.log(`built ${outfile}`);
