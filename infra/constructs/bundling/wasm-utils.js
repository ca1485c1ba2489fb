// What `@platformatic/wasm-utils` (CRC32C, LZ4 and Snappy for @platformatic/kafka) resolves to in a Lambda
// bundle: CRC32C in JavaScript, and no LZ4 or Snappy. The package is 56 KB of WebAssembly (76 KB once embedded
// as base64) that every Kafka bundle compiled at import; of it, a producer needs only the CRC32C of each record
// batch (wflo's clients set no compression, so the codecs are never called, and gzip/zstd come from node:zlib
// anyway). Slice-by-8 over a table built at import (8 KB, microseconds): a 500-event batch of 1 KB events is
// checksummed in about a millisecond. tests/unit/bundling/kafka-shims.test.ts checks it against the
// package's own CRC32C on random data, and the Kafka suite (tests/kafka/lambda-bundle.test.ts) has a real broker
// accept batches from a bundled client (a wrong CRC is refused as CORRUPT_MESSAGE).
import { DynamicBuffer } from '@platformatic/dynamic-buffer';

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) tables for slice-by-8: T[k][n] at k * 256 + n. */
const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = T[n];
  for (let k = 1; k < 8; k++) {
    c = T[c & 0xff] ^ (c >>> 8);
    T[k * 256 + n] = c;
  }
}

/** CRC-32C of a Buffer, Uint8Array or DynamicBuffer, as an unsigned 32-bit integer (as the WebAssembly returns it). */
export function crc32c(data) {
  const bytes = DynamicBuffer.isDynamicBuffer(data) ? data.buffer : data;
  const len = bytes.length;
  let crc = -1;
  let i = 0;
  for (; i + 8 <= len; i += 8) {
    const a = crc ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    crc =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + bytes[i + 4]] ^
      T[512 + bytes[i + 5]] ^
      T[256 + bytes[i + 6]] ^
      T[bytes[i + 7]];
  }
  for (; i < len; i++) crc = T[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Thrown by the codecs left out (a client configured with `compression: 'lz4' | 'snappy'`, or reading such records). */
export class UnsupportedLambdaCodecError extends Error {
  constructor(codec) {
    super(
      `${codec} is not in wflo's Lambda bundles (infra/constructs/bundling/wasm-utils.js): use gzip or zstd, or no compression`,
    );
    this.name = 'UnsupportedLambdaCodecError';
  }
}

export function lz4Compress() {
  throw new UnsupportedLambdaCodecError('LZ4');
}
export function lz4Decompress() {
  throw new UnsupportedLambdaCodecError('LZ4');
}
export function snappyCompress() {
  throw new UnsupportedLambdaCodecError('Snappy');
}
export function snappyDecompress() {
  throw new UnsupportedLambdaCodecError('Snappy');
}
