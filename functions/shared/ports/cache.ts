/**
 * The response-cache port. Values are strings (callers serialize); a missing or expired key reads as
 * undefined. Adapters: the store's `cache_entries` table (embedded default: PGlite in-process), Redis/
 * Valkey (`REDIS_URL` locally; ElastiCache Serverless on AWS).
 */
export interface ResponseCache {
  readonly kind: 'store' | 'redis';
  /** The adapter bounds its own call latency (e.g. a client command timeout), so callers need no timer. */
  readonly boundedLatency?: boolean;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}
