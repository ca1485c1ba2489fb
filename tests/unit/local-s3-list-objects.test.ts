import { describe, expect, it } from 'vitest';
import { LocalS3, S3_LIST_OBJECTS_V2, s3Integrations } from '../../infra/local/engine/integrations/s3.ts';
import type { LocalIntegrationContext } from '../../infra/local/engine/types.ts';

/*
 * aws-sdk:s3:listObjectsV2 on the embedded S3 pages as S3 does (ContinuationToken / NextContinuationToken,
 * Delimiter → CommonPrefixes counted against MaxKeys), so a workflow that loops over a listing with a Choice on
 * IsTruncated ends after the last page instead of reading the first page for ever.
 */
async function bucketWith(keys: string[]) {
  const s3 = new LocalS3();
  for (const key of keys) await s3.putObject('bucket-b', key, key);
  const list = s3Integrations(s3).get(S3_LIST_OBJECTS_V2);
  if (!list) throw new Error('listObjectsV2 is not served');
  const context: LocalIntegrationContext = {
    executionId: 'e',
    workflow: 'w',
    stateName: 'List',
    enteredTime: new Date(0).toISOString(),
    attempt: 0,
    signal: new AbortController().signal,
  };
  return (params: Record<string, unknown>) =>
    list({ Bucket: 'bucket-b', ...params }, context) as Promise<Record<string, unknown>>;
}

const keysOf = (page: Record<string, unknown>) =>
  ((page.Contents ?? []) as { Key: string }[]).map((c) => c.Key);
const prefixesOf = (page: Record<string, unknown>) =>
  ((page.CommonPrefixes ?? []) as { Prefix: string }[]).map((c) => c.Prefix);

describe('embedded S3 listObjectsV2 paging', () => {
  it('walks every key exactly once, in order, through NextContinuationToken', async () => {
    // Prepare
    const keys = Array.from({ length: 7 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
    const list = await bucketWith([...keys].reverse());

    // Act
    const seen: string[] = [];
    const truncated: boolean[] = [];
    let token: string | undefined;
    do {
      const page = await list({ MaxKeys: 3, ...(token ? { ContinuationToken: token } : {}) });
      seen.push(...keysOf(page));
      truncated.push(page.IsTruncated as boolean);
      token = page.NextContinuationToken as string | undefined;
    } while (token !== undefined);

    // Assess
    expect(seen).toEqual(keys);
    expect(truncated).toEqual([true, true, false]);
  });

  it('rolls keys under a Delimiter into CommonPrefixes, each counted once against MaxKeys', async () => {
    // Prepare
    const list = await bucketWith(['a.txt', 'logs/1', 'logs/2', 'logs/3', 'photos/x/1', 'z.txt']);

    // Act
    const first = await list({ Delimiter: '/', MaxKeys: 2 });
    const second = await list({ Delimiter: '/', MaxKeys: 2, ContinuationToken: first.NextContinuationToken });

    // Assess
    expect([keysOf(first), prefixesOf(first), first.KeyCount, first.IsTruncated]).toEqual([
      ['a.txt'],
      ['logs/'],
      2,
      true,
    ]);
    expect([keysOf(second), prefixesOf(second), second.KeyCount, second.IsTruncated]).toEqual([
      ['z.txt'],
      ['photos/'],
      2,
      false,
    ]);
    expect(second.ContinuationToken).toBe(first.NextContinuationToken);
    expect(second.NextContinuationToken).toBeUndefined();
  });

  it('StartAfter compares keys, so a key inside a common prefix still yields that prefix', async () => {
    // Prepare
    const list = await bucketWith(['logs/1', 'logs/2', 'm']);

    // Act
    const page = await list({ Delimiter: '/', StartAfter: 'logs/1' });

    // Assess
    expect([prefixesOf(page), keysOf(page), page.StartAfter]).toEqual([['logs/'], ['m'], 'logs/1']);
  });

  it('leaves Contents out of an empty listing, as the SDK does', async () => {
    // Prepare
    const list = await bucketWith(['a']);

    // Act
    const page = await list({ Prefix: 'nothing/' });

    // Assess
    expect(page).not.toHaveProperty('Contents');
    expect(page).toMatchObject({ IsTruncated: false, KeyCount: 0, Prefix: 'nothing/' });
  });

  it('refuses a token it did not issue and a negative MaxKeys, naming them', async () => {
    // Prepare
    const list = await bucketWith(['a']);

    // Act / Assess
    await expect(list({ ContinuationToken: 'not-a-token' })).rejects.toMatchObject({
      name: 'S3.InvalidArgumentException',
      message: expect.stringContaining('continuation token'),
    });
    await expect(list({ MaxKeys: -1 })).rejects.toMatchObject({
      name: 'S3.InvalidArgumentException',
      message: expect.stringContaining('MaxKeys'),
    });
  });
});
