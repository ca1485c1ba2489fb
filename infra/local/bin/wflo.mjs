#!/usr/bin/env node
// Entry of the `wflo` command: registers tsx so the TypeScript sources run as they are (no build step).
import { register } from 'tsx/esm/api';

// The AWS SDK warns on Node < 22 about its releases from 2027 on; wflo supports Node 20.19+ locally and
// pins the SDK, so that warning is noise on every start. Every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const sdkNodeNotice = `${warning.name}: ${warning.message}`.includes('NodeVersionSupportWarning');
  if (!sdkNodeNotice) console.warn(`${warning.name}: ${warning.message}`);
});

register();
await import('../cli/cli.ts');
