import { execFileSync } from 'node:child_process';

/**
 * DATABASE_URL and REDIS_URL for benchmarks that need real servers: taken from the environment, or from
 * tests/integration/services.sh, which installs and starts them on loopback (idempotently).
 */
export function serviceUrls(): { databaseUrl: string; redisUrl: string } {
  let { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
  if (!databaseUrl || !redisUrl) {
    const out = execFileSync('bash', ['tests/integration/services.sh', 'postgres', 'redis'], {
      encoding: 'utf8',
    });
    for (const line of out.split('\n')) {
      const m = /^export (\w+)=(.*)$/.exec(line.trim());
      if (m?.[1] === 'DATABASE_URL') databaseUrl ??= m[2];
      if (m?.[1] === 'REDIS_URL') redisUrl ??= m[2];
    }
  }
  if (!databaseUrl || !redisUrl) throw new Error('services.sh did not report DATABASE_URL and REDIS_URL');
  return { databaseUrl, redisUrl };
}
