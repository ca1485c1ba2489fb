// What `ajv/dist/2020.js` resolves to in a Lambda bundle (its only importer there is @platformatic/kafka): an
// Ajv2020 that compiles nothing. The client compiles about twenty option schemas at import (0.6 s of CPU on
// the relay's cold start, and 130 KB of ajv), but calls a validator only for a client created with
// `strict: true`: `kValidateOptions` (dist/clients/base/base.js) returns before validating otherwise. wflo's
// clients set `strict: false` explicitly (clientOptions in functions/shared/events/kafka-client.ts, asserted
// by tests/unit/events/kafka-client.test.ts), so in a bundle nothing is ever validated that would have been
// outside it. Should a validator be called all the same (a client with `strict: true`), it throws instead of
// letting options through unchecked.
export class LambdaBundleValidationError extends Error {
  constructor() {
    super(
      'Kafka option validation (strict: true) is not in wflo Lambda bundles (infra/constructs/bundling/ajv-2020.js); create the client with strict: false',
    );
    this.name = 'LambdaBundleValidationError';
  }
}

export class Ajv2020 {
  addKeyword() {
    return this;
  }

  compile() {
    return () => {
      throw new LambdaBundleValidationError();
    };
  }

  errorsText() {
    return '';
  }
}
