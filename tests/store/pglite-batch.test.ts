import { PGlite, type QueryOptions, types } from '@electric-sql/pglite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BatchingPglite, inlineParams } from '#local/engine/db/pglite-batch';

// The parsers drizzle-orm/pglite passes: timestamps and dates stay strings.
const keep = (v: string) => v;
const drizzleLike = (rowMode: 'array' | 'object'): QueryOptions => ({
  rowMode,
  parsers: { [types.TIMESTAMP]: keep, [types.TIMESTAMPTZ]: keep, [types.DATE]: keep },
});

describe('inlineParams', () => {
  it('replaces parameters with quoted literals, doubling quotes inside them', () => {
    // Prepare
    const text = 'select $1, $2, $10 from t where a = $1';
    const params = ["it's", 5, null, null, null, null, null, null, null, true];
    // Act
    const out = inlineParams(text, params);
    // Assess
    expect(out).toBe("select 'it''s', '5', 't' from t where a = 'it''s'");
  });

  it('leaves $n alone inside literals, quoted identifiers, comments, dollar quotes and identifiers', () => {
    const text = `select '$1', "col$1", a$1, $q$ $1 $q$ -- $1\n, /* $1 */ $1`;
    expect(inlineParams(text, ['x'])).toBe(`select '$1', "col$1", a$1, $q$ $1 $q$ -- $1\n, /* $1 */ 'x'`);
  });

  it('serialises objects as JSON, dates as ISO timestamps and bigints exactly', () => {
    const out = inlineParams('select $1, $2, $3', [
      { a: "b'c" },
      new Date('2026-01-02T03:04:05.678Z'),
      9007199254740993n,
    ]);
    expect(out).toBe(`select '{"a":"b''c"}', '2026-01-02T03:04:05.678Z', '9007199254740993'`);
  });

  it('refuses what has no unambiguous text form or would not be one statement', () => {
    expect(inlineParams('select $1', [[1, 2]])).toBeUndefined(); // array: Postgres array or JSON?
    expect(inlineParams('select $1', [new Uint8Array([1])])).toBeUndefined();
    expect(inlineParams('select $1', ['a\0b'])).toBeUndefined();
    expect(inlineParams('select $2', ['a'])).toBeUndefined(); // missing parameter
    expect(inlineParams('select 1; select 2', [])).toBeUndefined();
    expect(inlineParams("select E'\\'$1'", ['a'])).toBeUndefined();
    expect(inlineParams("select 'open", [])).toBeUndefined();
  });
});

describe('BatchingPglite (group commit over PGlite)', () => {
  let pglite: PGlite;
  let client: BatchingPglite;

  beforeAll(async () => {
    pglite = await PGlite.create();
    await pglite.exec(`
      create table items (id bigserial primary key, name text not null unique, doc jsonb, n bigint,
        at timestamptz, ok boolean, amount numeric, tags text[]);`);
  });
  afterAll(async () => {
    await pglite.close();
  });
  beforeEach(async () => {
    await pglite.exec('truncate items restart identity');
    client = new BatchingPglite(pglite);
  });

  it('sends concurrent statements as one batch and gives each caller its own result', async () => {
    // Act
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        client.query<{ id: number; name: string }>(
          'insert into items (name, n) values ($1, $2) returning id, name',
          [`item-${i}`, i],
        ),
      ),
    );
    // Assess
    expect(results.map((r) => r.rows[0]?.name)).toEqual(Array.from({ length: 20 }, (_, i) => `item-${i}`));
    expect(results.map((r) => r.rows[0]?.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(client.stats.batches).toBe(1);
    expect(client.stats.batchedStatements).toBe(20); // issued in the same turn: one message
    const count = await pglite.query<{ c: number }>('select count(*)::int as c from items');
    expect(count.rows[0]?.c).toBe(20);
  });

  it('groups statements issued from separate callbacks of one event-loop turn (each I/O callback is its own task)', async () => {
    // Prepare: 30 callers woken one callback each, as 30 model answers arriving together are
    const issued = Array.from(
      { length: 30 },
      (_, i) =>
        new Promise<unknown>((resolve, reject) =>
          setImmediate(() =>
            client.query('insert into items (name, n) values ($1, $2)', [`cb-${i}`, i]).then(resolve, reject),
          ),
        ),
    );
    // Act
    await Promise.all(issued);
    // Assess: one message for all of them, not one per callback
    expect(client.stats.batchedStatements).toBe(30);
    expect(client.stats.batches).toBe(1);
  });

  it('lets the event loop run between batches, so chains of statements do not hold back I/O', async () => {
    // Prepare: 40 callers, each running 5 statements one after the other (a run's steps), and a callback
    // queued behind them as a network answer would be
    const chain = async (i: number) => {
      for (let k = 0; k < 5; k++)
        await client.query('insert into items (name, n) values ($1, $2)', [`chain-${i}-${k}`, k]);
    };
    let statementsWhenIoRan = -1;
    // Act
    const chains = Promise.all(Array.from({ length: 40 }, (_, i) => chain(i)));
    setImmediate(() => {
      statementsWhenIoRan = client.stats.batchedStatements;
    });
    await chains;
    // Assess: the callback ran while the chains were still going, not after all 200 statements
    expect(statementsWhenIoRan).toBeGreaterThanOrEqual(0);
    expect(statementsWhenIoRan).toBeLessThan(200);
    expect(client.stats.batchedStatements).toBe(200);
    // The chains advance together: a round of 40 statements per message
    expect(client.stats.batches).toBe(5);
  });

  it('runs the callers answered most recently first, so a crowd of chains does not move in lockstep', async () => {
    // Prepare: 200 callers start together, each running 6 statements one after the other before it would wait
    // on the network (a resumed run up to its model call)
    const firstAnswered: number[] = [];
    const finished: number[] = [];
    const chain = async (i: number) => {
      for (let k = 0; k < 6; k++) {
        await client.query('insert into items (name, n) values ($1, $2)', [`run-${i}-${k}`, k]);
        if (k === 0) firstAnswered[i] = client.stats.batches;
      }
      finished[i] = client.stats.batches;
    };
    // Act
    await Promise.all(Array.from({ length: 200 }, (_, i) => chain(i)));
    // Assess: the first callers reached their wait before the last caller's first statement ran (in lockstep
    // every caller's first statement runs before any caller's second)
    expect(Math.min(...finished)).toBeLessThan(Math.max(...firstAnswered));
    // Each caller's statements ran in its order, once each
    const rows = await pglite.query<{ name: string }>('select name from items order by id');
    expect(rows.rows).toHaveLength(1200);
    for (let i = 0; i < 200; i++) {
      const own = rows.rows.map((r) => r.name).filter((n) => n.startsWith(`run-${i}-`));
      expect(own).toEqual(Array.from({ length: 6 }, (_, k) => `run-${i}-${k}`));
    }
  });

  it('serves statements that waited long among the oldest first, however many newer ones keep coming', async () => {
    // Prepare: 200 callers each running 30 statements back to back, so a newer caller always has one queued;
    // the clock moves 50 ms per answer
    let now = 0;
    client = new BatchingPglite(pglite, { now: () => now });
    const firstAnswered: number[] = [];
    const finished: number[] = [];
    const chain = async (i: number) => {
      for (let k = 0; k < 30; k++) {
        await client.query('insert into items (name, n) values ($1, $2)', [`busy-${i}-${k}`, k]);
        now += 50;
        if (k === 0) firstAnswered[i] = client.stats.batches;
      }
      finished[i] = client.stats.batches;
    };
    // Act
    await Promise.all(Array.from({ length: 200 }, (_, i) => chain(i)));
    // Assess: every caller's first statement was answered before the first callers were done with all of
    // theirs; newest-first alone would hold the later ones until the first had finished
    expect(Math.max(...firstAnswered)).toBeLessThan(Math.min(...finished));
  });

  it('returns the same rows, types and counts as PGlite itself, in both row modes', async () => {
    // Prepare
    const insert =
      'insert into items (name, doc, n, at, ok, amount, tags) values ($1, $2, $3, $4, $5, $6, $7) returning *';
    await pglite.query(insert, [
      'typed',
      { nested: { x: [1, 'two'] } },
      42,
      '2026-11-22T01:02:03.456Z',
      true,
      '12.50',
      ['a', 'b'],
    ]);
    await pglite.query(insert, ['nulls', null, null, null, null, null, null]);
    const select = 'select * from items where name = $1';
    for (const mode of ['array', 'object'] as const) {
      for (const name of ['typed', 'nulls']) {
        const expected = await pglite.query(select, [name], drizzleLike(mode));
        // Act: three at once, so they travel as a batch
        const [a, b] = await Promise.all([
          client.query(select, [name], drizzleLike(mode)),
          client.query(select, [name], drizzleLike(mode)),
          client.query('select 1', [], drizzleLike(mode)),
        ]);
        // Assess
        expect(a?.rows).toEqual(expected.rows);
        expect(b?.fields).toEqual(expected.fields);
      }
    }
    expect(client.stats.batches).toBeGreaterThan(0);
  });

  it('reports each statement its own affected rows', async () => {
    await pglite.exec("insert into items (name, n) values ('a', 1), ('b', 1), ('c', 2)");
    const [one, two, none] = await Promise.all([
      client.query('update items set n = n + 10 where n = $1', [2]),
      client.query('update items set n = n + 10 where n = $1', [1]),
      client.query('delete from items where name = $1', ['zzz']),
    ]);
    expect([one?.affectedRows, two?.affectedRows, none?.affectedRows]).toEqual([1, 2, 0]);
  });

  it('a failing statement fails alone: the others of its batch are written once, it is not written', async () => {
    // Prepare
    await client.query('insert into items (name) values ($1)', ['taken']);
    // Act
    const outcomes = await Promise.allSettled([
      client.query('insert into items (name) values ($1)', ['first']),
      client.query('insert into items (name) values ($1)', ['before']),
      client.query('insert into items (name, n) values ($1, $2)', ['taken', 7]),
      client.query('insert into items (name) values ($1)', ['after']),
    ]);
    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const failure = (outcomes[2] as PromiseRejectedResult).reason as { code?: string };
    expect(failure.code).toBe('23505');
    expect(client.stats.replays).toBe(1);
    const rows = await pglite.query<{ name: string; n: number | null }>(
      'select name, n from items order by id',
    );
    expect(rows.rows.map((r) => r.name).sort()).toEqual(['after', 'before', 'first', 'taken']);
    expect(rows.rows.find((r) => r.name === 'taken')?.n).toBeNull();
  });

  it('prepares each statement text once and runs it by name after that', async () => {
    // Prepare: earlier tests' statements are prepared on this PGlite too
    const before = await pglite.query<{ name: string }>('select name from pg_prepared_statements');
    // Act
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        client.query('insert into items (name, n) values ($1, $2)', [`r${round}-a`, round]),
        client.query('insert into items (name, n) values ($1, $2)', [`r${round}-b`, round]),
        client.query('select count(*)::int as c from items where n = $1', [round]),
      ]);
    }
    // Assess
    expect(client.stats.prepared).toBe(2);
    const prepared = await pglite.query<{ statement: string }>(
      'select statement from pg_prepared_statements where not (name = any($1)) order by statement',
      [before.rows.map((r) => r.name)],
    );
    expect(prepared.rows.map((r) => r.statement)).toEqual([
      expect.stringContaining('insert into items (name, n) values ($1, $2)'),
      expect.stringContaining('select count(*)::int as c from items where n = $1'),
    ]);
    const rows = await pglite.query<{ c: number }>('select count(*)::int as c from items');
    expect(rows.rows[0]?.c).toBe(6);
  });

  it('inlines the parameters of a statement Postgres cannot prepare untyped', async () => {
    // `$1 is null` gives the parameter no type: PREPARE refuses it, a literal is fine.
    const [a, b] = await Promise.all([
      client.query<{ n: boolean }>('select $1 is null as n', [null]),
      client.query<{ n: boolean }>('select $1 is null as n', ['x']),
    ]);
    expect([a?.rows[0]?.n, b?.rows[0]?.n]).toEqual([true, false]);
    expect(client.stats).toMatchObject({ prepared: 0, batches: 1, replays: 0 });
  });

  it('keeps a hostile string a string', async () => {
    const evil = "x'); drop table items; --";
    await Promise.all([
      client.query('insert into items (name) values ($1)', [evil]),
      client.query('insert into items (name) values ($1)', [`${evil}2`]),
    ]);
    const rows = await pglite.query<{ name: string }>('select name from items order by id');
    expect(rows.rows.map((r) => r.name)).toEqual([evil, `${evil}2`]);
  });

  it('runs statements it cannot inline on their own, with PGlite typing them', async () => {
    const [r] = await Promise.all([
      client.query<{ tags: string[] }>('insert into items (name, tags) values ($1, $2) returning tags', [
        'arr',
        ['x', 'y'],
      ]),
      client.query('select 1', []),
    ]);
    expect(r?.rows[0]?.tags).toEqual(['x', 'y']);
    expect(client.stats.unbatched).toBe(1);
  });

  it('does not interleave batched statements with an open transaction', async () => {
    const tx = client.transaction(async (t) => {
      await t.query("insert into items (name) values ('in-tx')");
      await new Promise((r) => setTimeout(r, 20));
      const seen = await t.query<{ c: number }>('select count(*)::int as c from items');
      return seen.rows[0]?.c;
    });
    const outside = Promise.all([
      client.query('insert into items (name) values ($1)', ['out-1']),
      client.query('insert into items (name) values ($1)', ['out-2']),
    ]);
    // The transaction saw only its own row: the batch waited for it to commit.
    expect(await tx).toBe(1);
    await outside;
    const rows = await pglite.query<{ c: number }>('select count(*)::int as c from items');
    expect(rows.rows[0]?.c).toBe(3);
  });
});
