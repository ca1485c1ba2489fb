import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Sha256 as PackageSha256 } from '@aws-crypto/sha256-js';
import { DynamicBuffer } from '@platformatic/dynamic-buffer';
import { crc32c as wasmCrc32c } from '@platformatic/wasm-utils';
import { describe, expect, it } from 'vitest';
import { Ajv2020, LambdaBundleValidationError } from '../../../infra/constructs/bundling/ajv-2020.js';
import { LRUCache } from '../../../infra/constructs/bundling/mnemonist.js';
import { Sha256 } from '../../../infra/constructs/bundling/sha256.js';
import {
  crc32c,
  lz4Compress,
  lz4Decompress,
  snappyCompress,
  snappyDecompress,
  UnsupportedLambdaCodecError,
} from '../../../infra/constructs/bundling/wasm-utils.js';
import { MNEMONIST_ALIAS, REPO_ROOT } from '../../../infra/constructs/wflo-function.ts';
// The Kafka client's own table-driven CRC32C (its exports map hides it: reached by path, as the shims do).
import { jsCRC32C } from '../../../node_modules/@platformatic/kafka/dist/protocol/crc32c.js';

/*
 * The Lambda bundles' stand-ins for parts of the Kafka client's dependencies (infra/constructs/bundling/,
 * wired by BUNDLE_OPTIONS.alias): each computes what the package computes, or refuses loudly where it leaves
 * something out.
 */

describe('CRC32C without WebAssembly (wasm-utils.js)', () => {
  it('matches the WebAssembly and the client own JavaScript CRC32C on every length 0-1100 and on large batches', () => {
    // GIVEN random data of every length up to past the slice-by-8 boundaries, and two large record batches
    const inputs = [
      ...Array.from({ length: 1101 }, (_, n) => randomBytes(n)),
      randomBytes(512 * 1024),
      randomBytes(1_000_003),
    ];
    for (const data of inputs) {
      // WHEN the shim checksums it
      const got = crc32c(data);
      // THEN it is the value the package's WebAssembly and its own table give, unsigned
      expect(got, `length ${data.length}`).toBe(wasmCrc32c(data));
      expect(got, `length ${data.length}`).toBe(jsCRC32C(data));
      expect(got).toBeGreaterThanOrEqual(0);
    }
  });

  it('matches the CRC32C check value and reads a DynamicBuffer as its bytes', () => {
    // GIVEN the standard check input "123456789" (CRC-32C check value 0xE3069283), and a DynamicBuffer in parts
    const check = Buffer.from('123456789');
    const parts = new DynamicBuffer([Buffer.from('12345'), Buffer.from('6789')]);
    // THEN
    expect(crc32c(check)).toBe(0xe3069283);
    expect(crc32c(parts)).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('refuses LZ4 and Snappy with a named error instead of producing anything', () => {
    for (const codec of [lz4Compress, lz4Decompress, snappyCompress, snappyDecompress]) {
      expect(() => codec(Buffer.from('x'))).toThrow(UnsupportedLambdaCodecError);
    }
  });
});

describe('Ajv without compilation (ajv-2020.js)', () => {
  it('compiles nothing, and a validator that is called anyway throws instead of accepting', () => {
    // GIVEN the shim, set up as the Kafka client sets up ajv (utils.js)
    const ajv = new Ajv2020();
    ajv.addKeyword({ keyword: 'bigint', validate: () => true });
    // WHEN a schema is compiled and its validator called
    const validate = ajv.compile({ type: 'object', properties: { clientId: { type: 'string' } } });
    // THEN the call throws: nothing passes as validated
    expect(() => validate({ clientId: 1 })).toThrow(LambdaBundleValidationError);
    expect(() => validate({ clientId: 'x' })).toThrow(LambdaBundleValidationError);
  });
});

describe('SHA-256 over node:crypto (sha256.js)', () => {
  it('gives the digests and HMACs of @aws-crypto/sha256-js', async () => {
    for (const [secret, data] of [
      [undefined, ''],
      [undefined, 'AWS4-HMAC-SHA256\n20261130T020000Z'],
      ['AWS4secret', '20261130'],
      [new Uint8Array(randomBytes(32)), randomBytes(3000)],
    ] as const) {
      // WHEN both hash the same input, with or without a key
      const mine = new Sha256(secret);
      const theirs = new PackageSha256(secret);
      mine.update(data);
      theirs.update(data);
      // THEN the bytes are the same
      expect(Buffer.from(await mine.digest())).toEqual(Buffer.from(await theirs.digest()));
    }
  });
});

describe('mnemonist as its LRUCache (mnemonist.js)', () => {
  it('is the very file the Kafka client resolves, so the class is the one it was written against', () => {
    // GIVEN where the client's murmur2.js would load mnemonist's LRU cache from
    const fromKafka = createRequire(
      join(REPO_ROOT, 'node_modules/@platformatic/kafka/dist/protocol/murmur2.js'),
    ).resolve('mnemonist/lru-cache.js');
    const imported = readFileSync(MNEMONIST_ALIAS, 'utf8').match(/from '([^']+lru-cache\.js)'/)?.[1];
    // THEN the shim imports that file, and the class behaves as an LRU cache
    expect(imported && resolve(dirname(MNEMONIST_ALIAS), imported)).toBe(fromKafka);
    const cache = new LRUCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3]);
  });
});
