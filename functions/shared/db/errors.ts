import { StoreError, StoreUnavailableError, WfloError } from '../errors.ts';

/**
 * PostgreSQL SQLSTATEs a retry can get past: connection exceptions (class 08), the server shutting down or
 * starting (57P01–57P03), serialization failures and deadlocks (40001, 40P01), too many connections (53300).
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '53400']);
/** Socket errors while talking to a server. */
const TRANSIENT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTCONN',
]);
/** RDS Data API errors that pass (Aurora waking from auto-pause, throttling, service hiccups). */
const TRANSIENT_AWS_NAMES = new Set([
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'ThrottlingException',
  'ServiceUnavailableError',
  'InternalServerErrorException',
]);
/** node-postgres reports a dropped connection with these messages (no code). */
const TRANSIENT_MESSAGES =
  /connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|communications link failure|resuming after being auto-paused/i;

/** The error and its causes (drizzle wraps the driver's error as `cause`), outermost first. */
function chain(error: unknown): unknown[] {
  const errors: unknown[] = [];
  for (
    let e = error;
    e !== undefined && e !== null && errors.length < 8;
    e = (e as { cause?: unknown }).cause
  ) {
    errors.push(e);
    if (typeof e !== 'object') break;
  }
  return errors;
}

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, name } = e as { code?: unknown; name?: unknown };
  if (typeof code === 'string' && code) return code;
  if (typeof name === 'string' && TRANSIENT_AWS_NAMES.has(name)) return name;
  return undefined;
}

/** True when a retry of the same statement may succeed (see the sets above). */
export function isTransientStoreError(error: unknown): boolean {
  return chain(error).some((e) => {
    const code = codeOf(e);
    if (code && (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_ERRNOS.has(code)))
      return true;
    if (code && TRANSIENT_AWS_NAMES.has(code)) return true;
    return e instanceof Error && TRANSIENT_MESSAGES.test(e.message);
  });
}

/**
 * What a store failure surfaces as: domain errors (WfloError: conflicts, budget, not found) unchanged;
 * everything else as {@link StoreUnavailableError} (retryable) or {@link StoreError}, whose messages name
 * the operation and the driver's code only. Drivers put the statement and its parameters (prompts, model
 * output) into their messages; those must reach neither the step rows the API serves nor the logs.
 */
export function toStoreError(error: unknown, operation: string): Error {
  if (error instanceof WfloError) return error;
  const code =
    chain(error)
      .map(codeOf)
      .find((c) => c !== undefined) ??
    (error as Error)?.name ??
    'unknown';
  if (isTransientStoreError(error)) {
    return new StoreUnavailableError(`store unavailable during ${operation} (${code}); retry`, code);
  }
  return new StoreError(`store operation ${operation} failed (${code})`, code);
}

/**
 * Wraps every method of a store (or any object of async methods) so its failures go through
 * {@link toStoreError}. Synchronous properties (e.g. `kind`) pass through.
 */
export function guardStore<T extends object>(store: T): T {
  // One wrapper per method, made on first use: store calls sit on every step's path.
  const wrapped = new Map<PropertyKey, (...args: unknown[]) => unknown>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const method = value as (...a: unknown[]) => unknown;
        const operation = String(property);
        wrapper = (...args: unknown[]) => {
          let result: unknown;
          try {
            result = method.apply(target, args);
          } catch (error) {
            throw toStoreError(error, operation);
          }
          return result instanceof Promise
            ? result.catch((error: unknown) => {
                throw toStoreError(error, operation);
              })
            : result;
        };
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}
