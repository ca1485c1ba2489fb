// asl-validator 4 ships no type declarations; this is the part of its API wflo uses.
declare module 'asl-validator' {
  interface ValidationResult {
    isValid: boolean;
    errors: unknown[];
    errorsText(separator?: string): string;
  }
  interface ValidationOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  function aslValidator(definition: object, options?: ValidationOptions): ValidationResult;
  export default aslValidator;
}
