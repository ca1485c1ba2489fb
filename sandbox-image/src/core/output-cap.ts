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

/**
 * The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence. Invalid
 * bytes are left alone (decoding turns them into U+FFFD); only a trailing incomplete sequence goes.
 */
export function utf8SafeEnd(bytes: Uint8Array): number {
  const n = bytes.byteLength;
  // A sequence is at most 4 bytes: look back for its lead byte among the last 3.
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
