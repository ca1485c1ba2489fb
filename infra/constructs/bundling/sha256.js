// What `@aws-crypto/sha256-js` resolves to in a Lambda bundle (its only importer there is the MSK IAM signer,
// aws-msk-iam-sasl-signer-js): the same `Sha256` interface (new Sha256(secret?), update, digest → Promise of
// bytes) over node:crypto through @smithy/hash-node, which is what the AWS SDK itself hashes with on Node.js.
// The pure-JavaScript SHA-256 and its tslib copy were 12 KB of the relay bundle.
// tests/unit/bundling/kafka-shims.test.ts checks digests and HMACs against the package.
import { Hash } from '@smithy/hash-node';

export class Sha256 extends Hash {
  constructor(secret) {
    super('sha256', secret);
  }
}
