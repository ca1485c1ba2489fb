/** Types of cli-build.mjs (plain JavaScript: it runs before any TypeScript loader), for the tests. */

/** Folders and files whose content keys the prebuilt CLI. */
export declare const SOURCE_ROOTS: readonly string[];
export declare const SOURCE_FILES: readonly string[];
/** The CLI's entry, relative to the repository root. */
export declare const CLI_ENTRY: string;

/** The cache key of the CLI built from `root` as its sources are now. */
export declare function sourceKey(root: string): string;

/** What a start runs: the prebuilt CLI (cached, or built now), or the TypeScript entry for tsx, with why. */
export type CliChoice =
  | { mode: 'prebuilt'; entry: string; dir: string; built: boolean; ms: number }
  | { mode: 'tsx'; entry: string; reason: string; ms: number };

/** The CLI this start should run; never a build of other sources than `root`'s as they are now. */
export declare function chooseCli(options: {
  root: string;
  cacheDir?: string;
  loadEsbuild?: () => Promise<unknown>;
}): Promise<CliChoice>;
