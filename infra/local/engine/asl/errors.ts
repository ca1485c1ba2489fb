/** A Step Functions runtime error; `name` is what Retry/Catch ErrorEquals match, `message` the Cause. */
export class StatesError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}
