import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXECUTE_API_SERVICE, executeApiSigner, toHttpRequest } from '../../infra/local/cli/api-client.ts';

/** What API Gateway's IAM authorization needs to check a request: the one caller's keys, and the region. */
export interface GatewayOptions {
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The stage path prefix API Gateway strips before the integration sees the path. */
  readonly stage: string;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
/** API Gateway refuses signatures dated further than this from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

/** `20261129T075300Z` → Date. */
function amzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

/**
 * Checks a request's SigV4 signature the way API Gateway's AWS_IAM authorization does: the credential scope
 * names this key, region and `execute-api`; the date is recent; and the signature, recomputed here with
 * `@smithy/signature-v4` (the AWS SDK's signer) over the received method, path, query, the signed headers
 * and the SHA-256 of the body actually received, is the one sent. Returns why it is refused, or undefined.
 */
export async function verifySigV4(
  req: { method: string; url: URL; headers: IncomingMessage['headers']; body: string },
  options: GatewayOptions,
): Promise<string | undefined> {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const auth = AUTH.exec(header('authorization') ?? '');
  if (!auth) return 'Missing Authentication Token';
  const [, keyId, day, region, service, signedHeaders, signature] = auth;
  if (keyId !== options.accessKeyId) return 'The security token included in the request is invalid.';
  if (region !== options.region || service !== EXECUTE_API_SERVICE)
    return 'Credential should be scoped to a valid region and service';
  const date = amzDate(header('x-amz-date') ?? '');
  // The scope's day must be the signing date's day.
  if (!date?.toISOString().replaceAll('-', '').startsWith(day!))
    return 'x-amz-date missing or not the scope day';
  if (Math.abs(Date.now() - date.getTime()) > MAX_SKEW_MS) return 'Signature expired';
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = header(name);
    if (value === undefined) return `signed header ${name} is missing`;
    headers[name] = value;
  }
  // The signer trusts x-amz-content-sha256 when present; API Gateway hashes the body it received instead.
  const bodyHash = createHash('sha256').update(req.body, 'utf8').digest('hex');
  if ('x-amz-content-sha256' in headers) headers['x-amz-content-sha256'] = bodyHash;
  const { host, ...rest } = headers;
  const url = new URL(req.url.pathname + req.url.search, `http://${host}`);
  const signer = executeApiSigner(options.region, {
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
  });
  const expected = await signer.sign(toHttpRequest(url, req.method, rest, req.body || undefined), {
    signingDate: date,
    signableHeaders: new Set(names),
  });
  const recomputed = AUTH.exec(String(expected.headers.authorization));
  if (recomputed?.[5] !== signedHeaders || recomputed?.[6] !== signature) {
    return 'The request signature we calculated does not match the signature you provided.';
  }
  return undefined;
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

/**
 * A local stand-in for the deployed API Gateway stage: refuses with 403 (as API Gateway does) any request
 * whose SigV4 signature does not verify, strips the stage prefix, and hands the rest to the API app.
 */
export async function startSigV4Gateway(
  app: { fetch(request: Request): Response | Promise<Response> },
  options: GatewayOptions,
): Promise<{ url: string; refused: string[]; close(): Promise<void> }> {
  const refused: string[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://gateway');
      const reason = await verifySigV4(
        { method: req.method ?? 'GET', url, headers: req.headers, body },
        options,
      );
      if (reason) {
        refused.push(reason);
        return send(res, 403, JSON.stringify({ message: reason }));
      }
      const prefix = `/${options.stage}`;
      if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) {
        return send(res, 403, JSON.stringify({ message: 'Missing Authentication Token' }));
      }
      const path = url.pathname.slice(prefix.length) || '/';
      const forwarded = new Request(`http://api${path}${url.search}`, {
        method: req.method ?? 'GET',
        headers: Object.entries(req.headers).flatMap(([k, v]) =>
          v === undefined || HOP_BY_HOP.has(k)
            ? []
            : [[k, Array.isArray(v) ? v.join(',') : v] as [string, string]],
        ),
        ...(body ? { body } : {}),
      });
      const answer = await app.fetch(forwarded);
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      res.end(Buffer.from(await answer.arrayBuffer()));
    })().catch((err: unknown) => send(res, 500, JSON.stringify({ message: String(err) })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${options.stage}/`,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What {@link runWfloCli} reports of one `wflo` process. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The process's own (empty) data directory: nothing local is meant to be written there. */
  readonly dataDir: string;
}

/**
 * Runs the real `wflo` process (asynchronously: the gateway answers from this process) with the caller's keys
 * only in the environment, as the default credential chain reads them: no profile, config or credentials
 * file, no instance metadata, a fresh empty data directory and no WFLO_API_URL. `env` goes on top.
 */
export function runWfloCli(
  args: readonly string[],
  keys: Pick<GatewayOptions, 'region' | 'accessKeyId' | 'secretAccessKey'>,
  env: Record<string, string> = {},
): Promise<CliRun> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'wflo-cli-')), 'data');
  const { AWS_PROFILE: _p, AWS_SESSION_TOKEN: _t, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['infra/local/bin/wflo.mjs', ...args],
      {
        encoding: 'utf8',
        timeout: 90_000,
        env: {
          ...inherited,
          AWS_ACCESS_KEY_ID: keys.accessKeyId,
          AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
          AWS_REGION: keys.region,
          AWS_CONFIG_FILE: join(dataDir, 'no-config'),
          AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'no-credentials'),
          AWS_EC2_METADATA_DISABLED: 'true',
          WFLO_DATA_DIR: dataDir,
          WFLO_API_URL: '',
          ...env,
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, dataDir }),
    );
  });
}
