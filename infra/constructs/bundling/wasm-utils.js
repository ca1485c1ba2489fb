// What `@platformatic/wasm-utils` (0.2.x, Apache-2.0; CRC32C, LZ4 and Snappy for @platformatic/kafka) resolves
// to in a Lambda bundle. The package reads `../dist/native.wasm` relative to its own file at import; inside a
// bundle that path is relative to the bundle (/var/task/index.mjs → /var/dist/native.wasm, outside the task
// root), so the relay failed at import (tests/infra/bundles.test.ts). Here the same binary is embedded in the
// bundle (esbuild's binary loader for .wasm) and the package's 40 lines of glue are restated around it.
import { DynamicBuffer } from '@platformatic/dynamic-buffer';
import wasm from '../../../node_modules/@platformatic/wasm-utils/dist/native.wasm';

const FastBuffer = Buffer[Symbol.species];
const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm));
const {
  alloc,
  crc32c: _crc32c,
  dealloc,
  lz4_compress: _lz4Compress,
  lz4_decompress: _lz4Decompress,
  memory,
  snappy_compress: _snappyCompress,
  snappy_decompress: _snappyDecompress,
} = instance.exports;
let currentBufferLength = 4096;
let currentBufferOffset = alloc(currentBufferLength);
let currentBuffer = new Uint8Array(memory.buffer, currentBufferOffset, currentBufferLength);

export function prepareInput(data) {
  const input = DynamicBuffer.isDynamicBuffer(data) ? data.buffer : data;
  if (currentBuffer.length < data.length) {
    dealloc(currentBufferOffset, currentBufferLength);
    currentBufferLength = data.length;
    currentBufferOffset = alloc(currentBufferLength);
    currentBuffer = new Uint8Array(memory.buffer, currentBufferOffset, currentBufferLength);
  }
  currentBuffer.set(input);
}
export function prepareOutput(combined) {
  const len = Number(BigInt.asUintN(32, combined));
  const ptr = Number(combined >> 32n);
  const output = Buffer.from(new FastBuffer(memory.buffer, ptr, len));
  dealloc(ptr, len);
  return output;
}
export function crc32c(data) {
  prepareInput(data);
  return _crc32c(currentBufferOffset, data.length) >>> 0;
}
export function lz4Compress(data) {
  prepareInput(data);
  return prepareOutput(_lz4Compress(currentBufferOffset, data.length));
}
export function lz4Decompress(data) {
  prepareInput(data);
  return prepareOutput(_lz4Decompress(currentBufferOffset, data.length));
}
export function snappyCompress(data) {
  prepareInput(data);
  return prepareOutput(_snappyCompress(currentBufferOffset, data.length));
}
export function snappyDecompress(data) {
  prepareInput(data);
  return prepareOutput(_snappyDecompress(currentBufferOffset, data.length));
}
