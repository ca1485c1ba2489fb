export declare class LambdaBundleValidationError extends Error {}
export declare class Ajv2020 {
  addKeyword(definition: unknown): this;
  compile(schema: unknown): (data: unknown) => boolean;
  errorsText(errors?: unknown, options?: unknown): string;
}
