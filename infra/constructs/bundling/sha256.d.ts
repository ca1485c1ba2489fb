import { Hash } from '@smithy/hash-node';

export declare class Sha256 extends Hash {
  constructor(secret?: string | ArrayBuffer | ArrayBufferView);
}
