export declare const LRUCache: typeof import('../../../node_modules/@platformatic/kafka/node_modules/mnemonist/lru-cache.js').default;
