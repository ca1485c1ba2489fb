import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { APPROVALS_TABLE } from '#shared/approvals/dynamo-layout';

// dynalite ships no type declarations; required through createRequire with the one call used, typed here
// (no global `declare module`, which another branch may add too).
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

/**
 * dynalite (the DynamoDB wire API on LevelDB, in memory) in this process on a loopback port, with a document
 * client pointed at it. Close it after the file.
 */
export async function startDynalite() {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const raw = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'dynalite', secretAccessKey: 'dynalite' },
    maxAttempts: 1,
  });
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    raw,
    client,
    close: async () => {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Creates an approvals table with the deployed layout (key and both indexes) from dynamo-layout.ts. */
export async function createApprovalsTable(raw: DynamoDBClient, tableName: string): Promise<void> {
  const index = (name: string, sortKey: string) => ({
    IndexName: name,
    KeySchema: [
      { AttributeName: 'status', KeyType: 'HASH' as const },
      { AttributeName: sortKey, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  await raw.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: APPROVALS_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
        { AttributeName: 'createdAt', AttributeType: 'N' },
        { AttributeName: 'expiresAt', AttributeType: 'N' },
      ],
      KeySchema: [{ AttributeName: APPROVALS_TABLE.partitionKey, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        index(APPROVALS_TABLE.byStatusCreated, 'createdAt'),
        index(APPROVALS_TABLE.byStatusExpiry, 'expiresAt'),
      ],
    }),
  );
  // TTL is not set: dynalite has no UpdateTimeToLive, and deleting items is DynamoDB's business, not wflo's.
}
