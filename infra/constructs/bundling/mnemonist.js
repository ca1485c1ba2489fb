// What `mnemonist` resolves to in a Lambda bundle: its LRUCache only, the one class @platformatic/kafka uses
// (a cache of partition hashes in dist/protocol/murmur2.js). The package's CommonJS index requires all of its
// 40-odd structures, which esbuild cannot leave out: 19 KB of the relay bundle. The path is the copy the Kafka
// client resolves (it needs mnemonist 0.40; the root copy is older); if npm moves it, bundling fails loudly,
// and tests/unit/bundling/kafka-shims.test.ts checks it is the file the client would load.
import LRUCache from '../../../node_modules/@platformatic/kafka/node_modules/mnemonist/lru-cache.js';

export { LRUCache };
