import { Fn, RemovalPolicy, type Stack } from 'aws-cdk-lib';

/**
 * The last 12 hex digits of the stack's id (`arn:…:stack/<name>/<uuid>`), resolved at deploy time. A physical
 * name that must be chosen up front (a log group a service writes to by convention) ends with it, so a stack
 * created again after `cdk destroy` does not collide with the resources the previous one retained.
 */
export function stackSuffix(stack: Stack): string {
  return Fn.select(4, Fn.split('-', Fn.select(2, Fn.split('/', stack.stackId))));
}

/**
 * What happens to data stores and logs when CloudFormation replaces or deletes them. RETAIN_ON_UPDATE_OR_DELETE,
 * not RETAIN: a failed first create still deletes what it made, so the deploy can simply be run again.
 */
export function dataRemovalPolicy(retain: boolean): RemovalPolicy {
  return retain ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;
}
