import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from '../config.ts';
import type { WfloDb } from '../db/connection.ts';
import type { ApprovalStore } from '../ports/approvals.ts';
import { dynamoApprovals } from './dynamo-approvals.ts';
import { storeApprovals } from './store-approvals.ts';

let documentClient: DynamoDBDocumentClient | undefined;

/**
 * The approvals adapter the config selects: the DynamoDB approvals table with the store as its audit copy
 * when APPROVALS_TABLE is set (AWS; the SDK honours AWS_ENDPOINT_URL_DYNAMODB, e.g. a local dynalite), the
 * store's own table otherwise (the embedded default).
 */
export function createApprovals(config: Config, db: WfloDb): ApprovalStore {
  const audit = storeApprovals(db);
  const target = config.approvals.target;
  if (target.kind === 'store') return audit;
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return dynamoApprovals({ client: documentClient, tableName: target.table, audit });
}
