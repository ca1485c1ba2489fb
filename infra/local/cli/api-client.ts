import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { ApiRequestError, ConfigError } from '#shared/errors';

/** The service name API Gateway's IAM authorization verifies signatures for. */
export const EXECUTE_API_SERVICE = 'execute-api';

/**
 * A `fetch` over the wflo API: the signed HTTP client, or the app itself in process. `headers` are sent (and
 * signed) besides the defaults; `signal` aborts the request and its streamed body (`wflo watch`).
 */
export type ApiFetch = (
  path: string,
  init?: { method?: string; body?: string; headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<Response>;

/**
 * The region of an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com/<stage>`), else
 * AWS_REGION / AWS_DEFAULT_REGION (custom domains, a local test server).
 */
export function regionOf(apiUrl: URL, env: NodeJS.ProcessEnv = process.env): string {
  const fromHost = /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(apiUrl.hostname)?.[1];
  const region = fromHost ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new ConfigError(
      `cannot tell the region of ${apiUrl.origin}: it is not an execute-api URL; set AWS_REGION`,
    );
  }
  return region;
}

/** Builds the signer the AWS SDK itself uses (SigV4, SHA-256), for `execute-api` in `region`. */
export function executeApiSigner(
  region: string,
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider,
): SignatureV4 {
  return new SignatureV4({
    credentials,
    region,
    service: EXECUTE_API_SERVICE,
    sha256: Hash.bind(null, 'sha256'),
  });
}

/** The smithy request for `url` as API Gateway will see it (host header set; query parsed). */
export function toHttpRequest(url: URL, method: string, headers: Record<string, string>, body?: string) {
  return new HttpRequest({
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: { host: url.host, ...headers },
    ...(body === undefined ? {} : { body }),
  });
}

/**
 * A fetch for the deployed API: each request is signed with SigV4 for `execute-api` using the default
 * credential chain (environment, SSO/profile, container or instance role), as the AWS CLI would.
 * `baseUrl` is the stage URL (the ApiUrl output, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/v1/`).
 */
export function signedFetch(
  baseUrl: string,
  options: { credentials?: AwsCredentialIdentityProvider; region?: string } = {},
): ApiFetch {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const signer = executeApiSigner(options.region ?? regionOf(base), options.credentials ?? defaultProvider());
  return async (path, init = {}) => {
    const url = new URL(path.replace(/^\//, ''), base);
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const signed = await signer.sign(toHttpRequest(url, method, headers, init.body));
    // fetch sets host itself (the same value); it refuses a host header of its own.
    const { host: _host, ...sent } = signed.headers;
    return fetch(url, {
      method,
      headers: sent,
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  };
}

/**
 * Plain fetch to a local API on this machine: the `wflo dev` that owns the embedded data directory, which
 * commands in other terminals talk to instead of opening the directory themselves.
 */
export function localFetch(baseUrl: string): ApiFetch {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  return (path, init = {}) => {
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(new URL(path.replace(/^\//, ''), base), {
      method: init.method ?? 'GET',
      headers,
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  };
}

/** JSON calls over an {@link ApiFetch}; an error status throws {@link ApiRequestError} with the problem's detail. */
export function apiClient(call: ApiFetch) {
  const send = async <T>(path: string, init?: { method?: string; body?: string }) => {
    const res = await call(path, init);
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const problem = body as { detail?: string; message?: string; title?: string } | undefined;
      const detail = problem?.detail ?? problem?.message ?? problem?.title ?? text.slice(0, 300);
      throw new ApiRequestError(
        `${init?.method ?? 'GET'} ${path}: HTTP ${res.status}: ${detail}`,
        res.status,
      );
    }
    return { status: res.status, body: body as T };
  };
  return {
    get: async <T>(path: string) => (await send<T>(path)).body,
    post: <T>(path: string, payload: unknown) =>
      send<T>(path, { method: 'POST', body: JSON.stringify(payload) }),
  };
}
export type ApiClient = ReturnType<typeof apiClient>;
