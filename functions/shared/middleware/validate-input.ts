import type { MiddlewareObj } from '@middy/core';
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** Describes zod issues as `field.path: message`, the form ValidationError and the API report. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/**
 * Validates the event against a zod schema and replaces it with the parsed value (defaults applied).
 * Throws {@link ValidationError} naming every bad field; nothing downstream runs.
 */
export function validateInput<S extends z.ZodType>(schema: S): MiddlewareObj {
  return {
    before: (request) => {
      const parsed = schema.safeParse(request.event);
      if (!parsed.success) {
        const issues = describeIssues(parsed.error);
        throw new ValidationError(`invalid input: ${issues.join('; ')}`, issues);
      }
      request.event = parsed.data;
    },
  };
}
