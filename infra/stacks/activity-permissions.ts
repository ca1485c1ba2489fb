/**
 * What each activity may touch, beyond the Aurora store every activity uses. An activity missing here gets
 * only the store (least privilege by default): give a new activity its needs here when it has them.
 */
export type ActivityNeed =
  /** ElastiCache Valkey (runs the function in the VPC): response cache. */
  | 'cache'
  /** Artifacts bucket, objects under executions/. */
  | 'artifacts-read'
  | 'artifacts-write'
  /** Calls the model provider: reads its API key secret (when configured) or invokes the Bedrock model. */
  | 'llm';

export const ACTIVITY_NEEDS: Readonly<Record<string, readonly ActivityNeed[]>> = {
  'llm-invoke': ['cache', 'llm'],
  'execution-finish': [],
  // Read too: the presigned GET of the code is signed with this function's role.
  'sandbox-prepare': ['artifacts-read', 'artifacts-write'],
  'sandbox-collect': ['artifacts-read'],
};

/** The needs of one activity (none beyond the store when it is not listed). */
export function needsOf(activityId: string): readonly ActivityNeed[] {
  return ACTIVITY_NEEDS[activityId] ?? [];
}
