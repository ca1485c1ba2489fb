import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ArtifactTooLargeError } from '#shared/errors';
import { type ArtifactStore, assertArtifactKey } from '#shared/ports/artifacts';

/** True when `path` lies inside the directory `base`: not `base` itself, not out through `..`, not elsewhere. */
export function isInside(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/**
 * Artifacts in a local directory (embedded target; default `${WFLO_DATA_DIR}/artifacts`). Its "presigned
 * URLs" are `file://` URLs of the object's path: only the local `ecs:runTask.sync` integration reads or
 * writes them, and it accepts none outside this directory (see {@link LocalArtifacts.pathOf}). They do not
 * expire. Directories are created 0700 and files 0600 on first use, so other users of the machine cannot
 * read code or results.
 *
 * @example
 * const artifacts = new LocalArtifacts('.wflo/artifacts');
 * await artifacts.put('executions/e1/sandbox/r1/code.py', 'print(1)', 'text/x-python');
 */
export class LocalArtifacts implements ArtifactStore {
  readonly kind = 'local' as const;
  /** Absolute path of the directory. */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The content type is not kept: a file's name says what it is. */
  async put(key: string, body: string | Uint8Array, _contentType?: string): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // Write-then-rename: a reader never sees half an object.
    const temp = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(temp, body, { mode: 0o600 });
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  async presignGet(key: string, _expiresInSeconds?: number): Promise<string> {
    return pathToFileURL(this.#path(key)).href;
  }

  async presignPut(key: string, _contentType?: string, _expiresInSeconds?: number): Promise<string> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return pathToFileURL(path).href;
  }

  async get(key: string, maxBytes: number): Promise<Uint8Array | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) {
        throw new ArtifactTooLargeError(`artifact ${key} has ${size} bytes; at most ${maxBytes} are read`);
      }
      const buffer = Buffer.alloc(size);
      const { bytesRead } = await handle.read(buffer, 0, size, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  /**
   * The path a `file://` URL of this store names, or undefined when the URL is not one (another scheme,
   * or a path outside the directory, `..` included).
   */
  pathOf(url: string): string | undefined {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch {
      return undefined;
    }
    const resolved = resolve(path);
    return isInside(this.root, resolved) ? resolved : undefined;
  }

  #path(key: string): string {
    return join(this.root, ...assertArtifactKey(key).split('/'));
  }
}
