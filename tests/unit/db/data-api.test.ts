import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type DbConnection, migrateDb, openDb } from '#local/engine/db/client';
import { loadConfig } from '#shared/config';
import { createStore } from '#shared/store/create-store';

const rds = mockClient(RDSDataClient);

const CLUSTER_ARN = 'arn:aws:rds:eu-west-1:123456789012:cluster:wflo-dev';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:wflo-dev-db-AbCdEf';
const STORE = {
  kind: 'data-api',
  resourceArn: CLUSTER_ARN,
  secretArn: SECRET_ARN,
  database: 'wflo',
} as const;

/** One Data API record of the executions table, in schema column order (what `select *` returns). */
const executionRecord = [
  { stringValue: 'exec-1' },
  { stringValue: 'agent-loop' },
  { stringValue: 'running' },
  { stringValue: '{"question":"why?"}' },
  { isNull: true },
  { isNull: true },
  { longValue: 5_000_000 },
  { longValue: 250_000 },
  { longValue: 1_234_567 },
  { longValue: 0 },
  { longValue: 0 }, // overrun_micros
  { stringValue: 'key-1' },
  { stringValue: '2026-11-20 10:00:00.123' },
  { stringValue: '2026-11-20 10:00:01.5' },
  { isNull: true },
  { isNull: true }, // owner (embedded engine only)
  { isNull: true }, // lease_expires_at
  { longValue: 0 }, // redrive_count
];

async function open(): Promise<DbConnection> {
  return openDb(STORE);
}

describe('Adapter: Aurora Data API store', () => {
  afterEach(() => {
    rds.reset();
  });

  it('selects the data-api store when DB_CLUSTER_ARN, DB_SECRET_ARN and DB_NAME are set', () => {
    // GIVEN the environment the CDK constructs set on every Lambda
    const env = { DB_CLUSTER_ARN: CLUSTER_ARN, DB_SECRET_ARN: SECRET_ARN, DB_NAME: 'wflo' };

    // WHEN
    const config = loadConfig(env);

    // THEN
    expect(config.store).toEqual(STORE);
  });

  it('prefers the Data API over DATABASE_URL and keeps the local defaults when none is set', () => {
    expect(
      loadConfig({
        DB_CLUSTER_ARN: CLUSTER_ARN,
        DB_SECRET_ARN: SECRET_ARN,
        DB_NAME: 'wflo',
        DATABASE_URL: 'postgres://x/y',
      }).store.kind,
    ).toBe('data-api');
    expect(loadConfig({}).store.kind).toBe('pglite');
    expect(loadConfig({ DATABASE_URL: 'postgres://localhost/wflo' }).store.kind).toBe('postgres');
  });

  it('rejects a partial Data API configuration, naming the missing variables', () => {
    expect(() => loadConfig({ DB_CLUSTER_ARN: CLUSTER_ARN })).toThrow(/DB_SECRET_ARN, DB_NAME: required/);
    expect(() =>
      loadConfig({ DB_CLUSTER_ARN: 'not-an-arn', DB_SECRET_ARN: SECRET_ARN, DB_NAME: 'wflo' }),
    ).toThrow(/DB_CLUSTER_ARN: must be an Aurora cluster ARN/);
    expect(() =>
      loadConfig({ DB_CLUSTER_ARN: CLUSTER_ARN, DB_SECRET_ARN: 'arn:aws:s3:::bucket', DB_NAME: 'wflo' }),
    ).toThrow(/DB_SECRET_ARN: must be a Secrets Manager secret ARN/);
  });

  it('issues ExecuteStatementCommand against the configured cluster, secret and database, and maps records', async () => {
    // GIVEN a Data API that returns one executions row
    rds.on(ExecuteStatementCommand).resolves({ records: [executionRecord] });
    const store = createStore(await open());

    // WHEN
    const row = await store.getExecution('exec-1');

    // THEN the statement went to the configured Aurora cluster with a named, typed parameter
    const calls = rds.commandCalls(ExecuteStatementCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toMatchObject({ resourceArn: CLUSTER_ARN, secretArn: SECRET_ARN, database: 'wflo' });
    expect(input.transactionId).toBeUndefined();
    expect(input.sql).toMatch(/from "executions" where "executions"\."id" = :1/);
    expect(input.parameters).toEqual([{ name: '1', value: { stringValue: 'exec-1' }, typeHint: undefined }]);
    // AND the record is mapped to the domain row: jsonb parsed, bigint micros as numbers, timestamps as Dates
    expect(row).toMatchObject({
      id: 'exec-1',
      workflow: 'agent-loop',
      status: 'running',
      input: { question: 'why?' },
      output: null,
      budgetMicros: 5_000_000,
      reservedMicros: 250_000,
      costMicros: 1_234_567,
      idempotencyKey: 'key-1',
      finishedAt: null,
    });
    expect(row!.createdAt).toBeInstanceOf(Date);
    expect(row!.startedAt).toBeInstanceOf(Date);
  });

  it('does not apply migrations when opened on AWS (the deploy-time custom resource does)', async () => {
    rds.on(ExecuteStatementCommand).resolves({ records: [] });

    await openDb(STORE);

    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(0);
    expect(rds.commandCalls(BeginTransactionCommand)).toHaveLength(0);
  });

  it('returns undefined when the Data API returns no records', async () => {
    rds.on(ExecuteStatementCommand).resolves({ records: [] });
    const store = createStore(await open());

    await expect(store.getExecution('missing')).resolves.toBeUndefined();
  });

  it('writes a state change and its outbox event in one ExecuteStatement, with no transaction round trips', async () => {
    // GIVEN
    rds.on(ExecuteStatementCommand).resolves({ records: [executionRecord] });
    const store = createStore(await open());

    // WHEN
    const { created } = await store.createExecution({
      id: 'exec-1',
      workflow: 'agent-loop',
      input: { question: 'why?' },
      budgetMicros: 5_000_000,
      idempotencyKey: 'key-1',
    });

    // THEN one call carries both inserts (a CTE), atomically, against the configured cluster
    expect(created).toBe(true);
    const statements = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({
      resourceArn: CLUSTER_ARN,
      secretArn: SECRET_ARN,
      database: 'wflo',
    });
    expect(statements[0]!.transactionId).toBeUndefined();
    expect(statements[0]!.sql).toMatch(/^with "ins" as \(insert into "executions"/);
    expect(statements[0]!.sql).toMatch(/insert into "events"/);
    // the jsonb input travels as JSON text that the statement casts to jsonb (parsed, not stored verbatim)
    const input = statements[0]!.parameters?.find((p) => p.value?.stringValue === '{"question":"why?"}');
    expect(input).toBeDefined();
    expect(statements[0]!.sql).toContain(`:${input!.name}::jsonb`);
    expect(rds.commandCalls(BeginTransactionCommand)).toHaveLength(0);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });

  it('holds a budget reservation in one ExecuteStatement: the fit check, the total and the hold together', async () => {
    // GIVEN the cluster answers the statement with the execution it updated (the hold fitted)
    rds.on(ExecuteStatementCommand).resolves({ records: [[{ stringValue: 'exec-1' }]] });
    const store = createStore(await open());

    // WHEN a model call's worst case is held
    const held = await store.reserveBudget({
      key: 'exec-1/Ask/0',
      executionId: 'exec-1',
      amountMicros: 1_000,
      stepId: 7,
      stateName: 'Ask',
      provider: 'openai',
      model: 'gpt-4o-mini',
    });

    // THEN one call, outside any transaction, checks cost + reserved + amount against the budget (and no
    // overrun), adds to the total and records the hold, as on PostgreSQL and PGlite
    expect(held).toEqual({ ok: true });
    const statements = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.transactionId).toBeUndefined();
    expect(statements[0]!.sql).toMatch(/update "executions" set reserved_micros/);
    expect(statements[0]!.sql).toMatch(/"overrun_micros" = 0 and/);
    expect(statements[0]!.sql).toMatch(/insert into "budget_reservations"/);
    expect(statements[0]!.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ value: { longValue: 1_000 } })]),
    );
    expect(rds.commandCalls(BeginTransactionCommand)).toHaveLength(0);
  });

  it("holds a step's transitions and compute together in one ExecuteStatement, no session state", async () => {
    // GIVEN the cluster answers the statement: two fresh holds, not blocked, the execution updated
    rds
      .on(ExecuteStatementCommand)
      .resolves({ records: [[{ longValue: 2 }, { booleanValue: false }, { longValue: 1 }]] });
    const store = createStore(await open());

    // WHEN a step's holds of both kinds are taken
    const held = await store.reserveBudgets('exec-1', [
      { key: 'exec-1/Ask/t', kind: 'transition', amountMicros: 100, stepId: 7, stateName: 'Ask' },
      { key: 'exec-1/Ask/0/lambda', kind: 'lambda', amountMicros: 2_500, stepId: 7, stateName: 'Ask' },
    ]);

    // THEN one call outside any transaction carries both holds as JSON text cast to jsonb (the Data API
    // has no array parameters) and checks their sum against the budget in the execution's UPDATE
    expect(held).toEqual({ ok: true });
    const statements = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.transactionId).toBeUndefined();
    expect(statements[0]!.sql).toMatch(/jsonb_to_recordset\(:\w+::jsonb\)/);
    expect(statements[0]!.sql).toMatch(/update "executions" set reserved_micros/);
    expect(statements[0]!.sql).toMatch(/"overrun_micros" = 0 and/);
    expect(statements[0]!.sql).toMatch(/insert into "budget_reservations"/);
    const holds = statements[0]!.parameters?.find((p) => p.value?.stringValue?.startsWith('['));
    expect(JSON.parse(holds!.value!.stringValue!)).toEqual([
      expect.objectContaining({ key: 'exec-1/Ask/t', kind: 'transition', amount: 100, step_id: 7 }),
      expect.objectContaining({ key: 'exec-1/Ask/0/lambda', kind: 'lambda', amount: 2_500 }),
    ]);
    expect(rds.commandCalls(BeginTransactionCommand)).toHaveLength(0);
  });

  it("turns an abandoned call's hold into unconfirmed spend in one ExecuteStatement", async () => {
    // GIVEN the cluster answers with the ledger row it wrote
    rds.on(ExecuteStatementCommand).resolves({ records: [[{ longValue: 42 }]] });
    const store = createStore(await open());

    // WHEN
    const out = await store.recordUnconfirmed('exec-1/Ask/0', 'client timeout after 60 s');

    // THEN the hold is settled, the row (confirmed = false), totals and event written by one statement
    expect(out).toEqual({ recorded: true });
    const statements = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.transactionId).toBeUndefined();
    expect(statements[0]!.sql).toMatch(/update "budget_reservations" set status = 'settled'/);
    expect(statements[0]!.sql).toMatch(/insert into "cost_entries"/);
    expect(statements[0]!.sql).toMatch(/insert into "events"/);
  });

  it('surfaces the error when the statement fails, and sends nothing after it', async () => {
    rds
      .on(ExecuteStatementCommand)
      .rejects(new Error('BadRequestException: relation "executions" does not exist'));
    const store = createStore(await open());

    const failure = store.createExecution({ id: 'exec-2', workflow: 'hello', input: {} });
    await expect(failure).rejects.toThrow(/Failed query: with "ins" as \(insert into "executions"/);
    await expect(failure).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/does not exist/) },
    });
    expect(rds.commandCalls(ExecuteStatementCommand)).toHaveLength(1);
    expect(rds.commandCalls(RollbackTransactionCommand)).toHaveLength(0);
  });

  it('applies the bundled migrations through the Data API inside one transaction', async () => {
    // GIVEN an empty database (no recorded migration)
    rds.on(BeginTransactionCommand).resolves({ transactionId: 'tx-m' });
    rds.on(ExecuteStatementCommand).resolves({ records: [], columnMetadata: [] });
    rds.on(CommitTransactionCommand).resolves({});
    const conn = await open();

    // WHEN
    await migrateDb(conn);

    // THEN the schema is created and every statement of 0000_init runs in the transaction
    const statements = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input);
    expect(statements[0]!.sql).toMatch(/CREATE SCHEMA IF NOT EXISTS "drizzle"/);
    const inTx = statements.filter((s) => s.transactionId === 'tx-m').map((s) => s.sql ?? '');
    expect(inTx.some((s) => s.includes('CREATE TABLE "executions"'))).toBe(true);
    expect(inTx.at(-1)).toMatch(/insert into "drizzle"\."__drizzle_migrations"/);
    expect(rds.commandCalls(CommitTransactionCommand)).toHaveLength(1);
  });
});
