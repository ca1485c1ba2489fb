import { type Config, loadConfig } from '../config.ts';
import { lazyPart } from './lazy.ts';

/** The process's config, read from the environment once (or the installed runtime's). */
export const getConfig: () => Promise<Config> = lazyPart(
  (rt) => rt.config,
  async () => loadConfig(),
);
