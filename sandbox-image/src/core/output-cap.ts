import { utf8SafeEnd } from '../contract.ts';

/**
 * Keeps the first `maxBytes` of a stream and counts the rest without storing it, so a program that
 * floods its output costs the parent at most `maxBytes` of memory while the pipe keeps draining (a
 * full pipe would stall the program until the timeout instead of letting it finish).
 */
export class OutputCap {
  readonly #maxBytes: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #seen = 0;

  constructor(maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes: ${maxBytes}`);
    this.#maxBytes = maxBytes;
  }

  /** Takes a chunk; stores only what still fits. */
  push(chunk: Uint8Array): void {
    this.#seen += chunk.byteLength;
    const room = this.#maxBytes - this.#kept;
    if (room <= 0) return;
    // Copy: the caller's buffer may be a slice of a larger pooled allocation we must not pin.
    const part = Buffer.from(chunk.subarray(0, Math.min(room, chunk.byteLength)));
    this.#chunks.push(part);
    this.#kept += part.byteLength;
  }

  /** Bytes received in total, kept or not. */
  get bytesSeen(): number {
    return this.#seen;
  }

  /** More arrived than was kept. */
  get truncated(): boolean {
    return this.#seen > this.#kept;
  }

  /** The kept bytes as text; a multi-byte character cut at the limit is dropped, not mangled. */
  text(): string {
    const bytes = Buffer.concat(this.#chunks, this.#kept);
    const end = this.truncated ? utf8SafeEnd(bytes) : bytes.byteLength;
    return bytes.subarray(0, end).toString('utf8');
  }
}
