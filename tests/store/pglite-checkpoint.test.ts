import { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Checkpointer, startCheckpointer, walSinceCheckpoint } from '#local/engine/db/pglite-checkpoint';

/*
 * What a restart after kill -9 replays on PGlite is the WAL since the last checkpoint. PGlite's standalone
 * backend never checkpoints by itself while it runs; the checkpointer bounds that WAL by volume.
 */
const CHUNK_ROWS = 200;
const PAD = 'x'.repeat(1000);

// One database for the file (creating PGlite is seconds on a loaded machine); each test starts from an
// empty table and a fresh checkpoint.
let pglite: PGlite;
let checkpointer: Checkpointer | undefined;
beforeAll(async () => {
  pglite = await PGlite.create();
});
afterAll(async () => {
  await pglite.close();
});
beforeEach(async () => {
  await pglite.exec(
    'drop table if exists t; create table t (id serial primary key, chunk int not null, pad text not null); checkpoint',
  );
});
afterEach(async () => {
  await checkpointer?.stop();
  checkpointer = undefined;
});

/** Commits one chunk of rows (about 250 KB of WAL). */
async function writeChunk(db: PGlite, chunk: number): Promise<void> {
  await db.query(
    `insert into t (chunk, pad) select $1, $2 || g::text from generate_series(1, ${CHUNK_ROWS}) g`,
    [chunk, PAD],
  );
}

describe('PGlite checkpointer', () => {
  it('without it, the WAL to replay grows with every write (the standalone backend never checkpoints)', async () => {
    // Prepare
    const before = await walSinceCheckpoint(pglite);

    // Act
    for (let chunk = 0; chunk < 8; chunk++) await writeChunk(pglite, chunk);

    // Assess
    const after = await walSinceCheckpoint(pglite);
    expect(after - before).toBeGreaterThan(8 * CHUNK_ROWS * PAD.length);
  });

  it('checkpoints once the WAL since the last checkpoint passes the threshold, keeping it bounded', async () => {
    // Prepare: a threshold of 512 KB, measured after each chunk (the timer is not relied on)
    const maxWalBytes = 512 * 1024;
    checkpointer = startCheckpointer(pglite, { intervalMs: 3_600_000, maxWalBytes });
    const walAfterTick: number[] = [];

    // Act: 16 chunks, about 4 MB of WAL
    for (let chunk = 0; chunk < 16; chunk++) {
      await writeChunk(pglite, chunk);
      await checkpointer.tick();
      walAfterTick.push(await walSinceCheckpoint(pglite));
    }

    // Assess: never more than the threshold left after a tick, several checkpoints, every row kept
    expect(Math.max(...walAfterTick)).toBeLessThan(maxWalBytes);
    expect(checkpointer.stats.checkpoints).toBeGreaterThanOrEqual(4);
    expect(checkpointer.stats.maxMs).toBeGreaterThan(0);
    const { rows } = await pglite.query<{ n: number }>('select count(*)::int as n from t');
    expect(rows[0]?.n).toBe(16 * CHUNK_ROWS);
  });

  it('does nothing below the threshold', async () => {
    // Prepare
    checkpointer = startCheckpointer(pglite, { intervalMs: 3_600_000, maxWalBytes: 64 * 1024 * 1024 });

    // Act
    await writeChunk(pglite, 0);
    await checkpointer.tick();

    // Assess
    expect(checkpointer.stats.checkpoints).toBe(0);
  });
});
