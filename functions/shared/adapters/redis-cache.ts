import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Cluster, Redis } from 'iovalkey';
import type { ResponseCache } from '../ports/cache.ts';

export type RedisTarget =
  | { kind: 'url'; url: string }
  | {
      kind: 'elasticache';
      host: string;
      port: number;
      tls: boolean;
      /** IAM authentication: user id and serverless cache name the token is signed for. */
      iam?: { user: string; cacheName: string; region: string };
    };

/**
 * An ElastiCache IAM auth token: a SigV4-presigned `connect` request for the user, valid 15 minutes,
 * used as the password. See the ElastiCache "Authenticating with IAM" guide.
 */
export async function elasticacheIamToken(iam: {
  user: string;
  cacheName: string;
  region: string;
}): Promise<string> {
  // Loaded when a token is first needed (the runtime's SDK, left out of the bundle), not at every cold start
  // of the function: the credential chain is the heaviest module the cache would otherwise import.
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  const signer = new SignatureV4({
    service: 'elasticache',
    region: iam.region,
    credentials: defaultProvider(),
    sha256: Hash.bind(null, 'sha256'),
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'http:',
    hostname: iam.cacheName,
    path: '/',
    query: { Action: 'connect', User: iam.user, ResourceType: 'ServerlessCache' },
    headers: { host: iam.cacheName },
  });
  const signed = await signer.presign(request, { expiresIn: 900 });
  const query = new URLSearchParams(signed.query as Record<string, string>).toString();
  return `${iam.cacheName}/?${query}`;
}

/**
 * Opens an iovalkey client for a target: one server for a URL (`redis://`, `rediss://`); on AWS, ElastiCache
 * Serverless in cluster mode over TLS with IAM auth (the token refreshed every 10 minutes). The library is
 * imported here, on the first connection, not at module load. Shared by the response cache and the locks.
 */
export async function openRedis(
  target: RedisTarget,
  options: { commandTimeoutMs: number; maxRetriesPerRequest?: number },
): Promise<Redis | Cluster> {
  const commandTimeout = options.commandTimeoutMs;
  const maxRetriesPerRequest = options.maxRetriesPerRequest ?? 1;
  // The client library (and the net/tls/dns modules it pulls in) loads with the first connection, not at
  // import: a Lambda's init then does not pay for it before its first store call.
  const { Cluster, Redis } = await import('iovalkey');
  if (target.kind === 'url') {
    return new Redis(target.url, { commandTimeout, maxRetriesPerRequest, enableOfflineQueue: true });
  }
  const { iam } = target;
  const cluster = new Cluster([{ host: target.host, port: target.port }], {
    // ElastiCache's TLS certificates name the endpoint, not the node addresses.
    dnsLookup: (address, callback) => callback(null, address),
    slotsRefreshTimeout: 2000,
    redisOptions: {
      commandTimeout,
      maxRetriesPerRequest,
      ...(target.tls ? { tls: {} } : {}),
      ...(iam ? { username: iam.user, password: await elasticacheIamToken(iam) } : {}),
    },
  });
  if (iam) {
    // A token lasts 15 minutes; reconnections after that use a fresh one.
    const timer = setInterval(
      () => {
        elasticacheIamToken(iam).then(
          (password) => {
            cluster.options.redisOptions = { ...cluster.options.redisOptions, password };
          },
          () => {},
        );
      },
      10 * 60 * 1000,
    );
    timer.unref();
  }
  return cluster;
}

/**
 * Response cache on Redis/Valkey (iovalkey): `GET`, `SET key value EX ttl`. A URL (`redis://`, `rediss://`)
 * connects to one server; on AWS, ElastiCache Serverless is reached in cluster mode over TLS with IAM auth.
 */
export function redisCache(target: RedisTarget, options: { commandTimeoutMs?: number } = {}): ResponseCache {
  const commandTimeout = options.commandTimeoutMs ?? 500;
  let client: Promise<Redis | Cluster> | undefined;
  const connect = () => openRedis(target, { commandTimeoutMs: commandTimeout });
  const get = () => {
    client ??= connect().then((c) => {
      // Failures surface on the calls (the caller fails open); the client's error events are not fatal.
      c.on('error', () => {});
      return c;
    });
    return client;
  };
  return {
    kind: 'redis',
    // Every command carries the client's commandTimeout.
    boundedLatency: true,
    async get(key) {
      return (await (await get()).get(key)) ?? undefined;
    },
    async set(key, value, ttlSeconds) {
      await (await get()).set(key, value, 'EX', Math.max(1, Math.round(ttlSeconds)));
    },
    async close() {
      if (client) (await client).disconnect();
    },
  };
}
