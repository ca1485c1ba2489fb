import { join } from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions, REPO_ROOT } from '../../infra/constructs/wflo-function.ts';

/**
 * `entry` bundled as WfloFunction bundles it (BUNDLE_OPTIONS, the SDK external), unminified and kept in memory,
 * with its metafile: what the bundle tests read to see which modules and packages a Lambda's code holds.
 */
export function bundleInMemory(entry: string) {
  return build({
    ...esbuildOptions(),
    minify: false,
    entryPoints: [join(REPO_ROOT, entry)],
    absWorkingDir: REPO_ROOT,
    write: false,
    outdir: 'out',
    metafile: true,
    logLevel: 'silent',
  });
}
