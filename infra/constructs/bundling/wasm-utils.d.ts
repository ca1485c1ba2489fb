import type { DynamicBuffer } from '@platformatic/dynamic-buffer';

export declare function crc32c(data: Buffer | Uint8Array | DynamicBuffer): number;
export declare class UnsupportedLambdaCodecError extends Error {
  constructor(codec: string);
}
export declare function lz4Compress(data: Buffer | Uint8Array | DynamicBuffer): Buffer;
export declare function lz4Decompress(data: Buffer | Uint8Array | DynamicBuffer): Buffer;
export declare function snappyCompress(data: Buffer | Uint8Array | DynamicBuffer): Buffer;
export declare function snappyDecompress(data: Buffer | Uint8Array | DynamicBuffer): Buffer;
