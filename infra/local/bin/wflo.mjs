#!/usr/bin/env node
// Entry of the `wflo` command. Runs the CLI prebuilt by esbuild from the sources as they are (cached under
// node_modules/.cache/wflo/cli, rebuilt when any source changes: cli-build.mjs), which starts with about 40%
// less CPU than compiling the TypeScript through tsx; when it cannot be built, runs the sources through tsx.
// WFLO_CLI_BUILD=0 always uses tsx; WFLO_CLI_CACHE_DIR moves the cache (e.g. when node_modules is read-only).
import { fileURLToPath } from 'node:url';
import { chooseCli } from './cli-build.mjs';

// The AWS SDK warns on Node < 22 about its releases from 2027 on; wflo supports Node 20.19+ locally and
// pins the SDK, so that warning is noise on every start. Every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const sdkNodeNotice = `${warning.name}: ${warning.message}`.includes('NodeVersionSupportWarning');
  if (!sdkNodeNotice) console.warn(`${warning.name}: ${warning.message}`);
});

const root = fileURLToPath(new URL('../../../', import.meta.url));
const verbose = process.env.WFLO_VERBOSE === '1' || process.argv.includes('--verbose');
const disabled = ['0', 'false', 'off'].includes(process.env.WFLO_CLI_BUILD ?? '');
const cli = disabled
  ? { mode: 'tsx', entry: new URL('../cli/cli.ts', import.meta.url).href, reason: 'WFLO_CLI_BUILD=0', ms: 0 }
  : await chooseCli({
      root,
      ...(process.env.WFLO_CLI_CACHE_DIR ? { cacheDir: process.env.WFLO_CLI_CACHE_DIR } : {}),
    });

if (cli.mode === 'prebuilt') {
  if (verbose) {
    const how = cli.built ? 'built now' : 'cached';
    console.error(`wflo: CLI prebuilt (${how}, ${fileURLToPath(cli.entry)}; ${Math.round(cli.ms)} ms)`);
  }
} else {
  // Said once per start: a slower start has a reason the user can act on.
  if (!disabled || verbose) console.error(`wflo: running the CLI through tsx: ${cli.reason}`);
  const { register } = await import('tsx/esm/api');
  register();
}
await import(cli.entry);
