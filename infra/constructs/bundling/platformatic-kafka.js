// What `import … from "@platformatic/kafka"` resolves to in a Lambda bundle: only the clients wflo uses.
// The package's one entry point re-exports everything, including its Confluent schema registry (avsc, about
// 100 KB) and every protocol API, and declares no `sideEffects: false`, so esbuild keeps all of it; the relay
// bundle came to 792 KB. These deep imports (its `exports` map allows only ".") take the same modules.
export { Admin } from '../../../node_modules/@platformatic/kafka/dist/clients/admin/index.js';
export { Producer } from '../../../node_modules/@platformatic/kafka/dist/clients/producer/index.js';
export { defaultPartitioner } from '../../../node_modules/@platformatic/kafka/dist/clients/producer/partitioners.js';
export { stringSerializers } from '../../../node_modules/@platformatic/kafka/dist/clients/serde.js';
