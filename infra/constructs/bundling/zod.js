// What `import … from "zod"` resolves to in a Lambda bundle: node_modules/zod/index.js over zod-classic.js.
import * as z from './zod-classic.js';

export * from './zod-classic.js';
export { z, z as default };
