/**
 * Step Functions runtime errors raised by the ASL data-flow layer. `name` is what a Retrier's or Catcher's
 * `ErrorEquals` matches (`States.ALL` matches them all but `States.Runtime` is never retried on AWS: that is the
 * interpreter's rule, not this class's); `message` becomes the `Cause`.
 */
export class StatesError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** The error names this layer raises, as Step Functions spells them. */
export const STATES_ERRORS = {
  runtime: 'States.Runtime',
  intrinsicFailure: 'States.IntrinsicFailure',
  parameterPathFailure: 'States.ParameterPathFailure',
  resultPathMatchFailure: 'States.ResultPathMatchFailure',
  noChoiceMatched: 'States.NoChoiceMatched',
  queryEvaluationError: 'States.QueryEvaluationError',
} as const;
