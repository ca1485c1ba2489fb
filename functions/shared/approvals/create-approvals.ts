import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.ts';
import type { WfloDb } from '../db/connection.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import { dynamoApprovals } from './dynamo-approvals.ts';
import { storeApprovals } from './store-approvals.ts';

let documentClient: Pick<DynamoDBDocumentClient, 'send'> | undefined;

/**
 * The process's document client, made on the first send with its DynamoDB client, lib-dynamodb imported then
 * (see `commands` in ./dynamo-approvals.ts): the API's cold start neither loads lib-dynamodb nor builds a
 * DynamoDB client for routes that never touch approvals.
 */
function lazyDocumentClient(): Pick<DynamoDBDocumentClient, 'send'> {
  let client: Promise<DynamoDBDocumentClient> | undefined;
  const send = async (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
    client ??= import('@aws-sdk/lib-dynamodb').then(({ DynamoDBDocumentClient }) =>
      DynamoDBDocumentClient.from(new DynamoDBClient({}), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    );
    return (await client).send(command);
  };
  // The overloads of `send` (callback forms) are not used by the adapter; one signature implements them.
  return { send: send as DynamoDBDocumentClient['send'] };
}

/**
 * The approvals adapter the config selects: the DynamoDB approvals table with the store as its audit copy
 * when APPROVALS_TABLE is set (AWS; the SDK honours AWS_ENDPOINT_URL_DYNAMODB, e.g. a local dynalite), the
 * store's own table otherwise (the embedded default).
 */
export function createApprovals(config: Config, db: WfloDb): ApprovalStore {
  const audit = storeApprovals(db);
  const target = config.approvals.target;
  if (target.kind === 'store') return audit;
  documentClient ??= lazyDocumentClient();
  return dynamoApprovals({ client: documentClient, tableName: target.table, audit });
}
