// What `avro-js` and `protobufjs` resolve to in a Lambda bundle. @aws-lambda-powertools/kafka imports them
// lazily, only for AVRO and PROTOBUF records; wflo's events are JSON (functions/shared/events/kafka.ts), so a
// consumer bundle carries neither library (avro-js is not even installed: esbuild could not resolve it).
const unsupported = () => {
  throw new Error('wflo Lambda bundles decode JSON Kafka records only (no Avro or Protobuf library bundled)');
};
export class BufferReader {
  constructor() {
    unsupported();
  }
}
export default { parse: unsupported };
