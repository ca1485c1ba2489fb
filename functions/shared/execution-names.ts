import { createHash, randomBytes } from 'node:crypto';

/** Step Functions' limit on an execution name (StartExecution `name`: 1–80 characters). */
export const EXECUTION_NAME_MAX = 80;
/** Length of the trailing id: hex, 48 bits. */
const SHORT_ID_LENGTH = 12;
/** Longest goal slug: enough to recognise a run in the console list. */
const GOAL_SLUG_MAX = 32;
/** Longest workflow part, so the key or slug always keeps room to be read. */
const WORKFLOW_PART_MAX = 32;

/**
 * Keeps only what Step Functions accepts in a name *and* CloudWatch Logs can carry (0-9, A-Z, a-z, `-`,
 * `_`): everything else (whitespace, brackets, wildcards, `" # % \ ^ | ~ ` $ & , ; : /`, control characters,
 * non-ASCII) becomes one `-`.
 */
function safePart(text: string): string {
  return text
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** A short lower-case slug of the input's `goal` (accents folded), or undefined when there is none. */
export function goalSlug(input: unknown): string | undefined {
  const goal = (input as { goal?: unknown } | null)?.goal;
  if (typeof goal !== 'string') return undefined;
  const folded = goal
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
  const slug = safePart(folded.replace(/[^a-z0-9]+/g, '-'));
  if (slug.length <= GOAL_SLUG_MAX) return slug || undefined;
  // Cut at a word boundary when one leaves most of the room used, so the slug does not end mid-word.
  const cut = slug.slice(0, GOAL_SLUG_MAX + 1);
  const boundary = cut.lastIndexOf('-');
  return boundary >= GOAL_SLUG_MAX / 2 ? cut.slice(0, boundary) : cut.slice(0, GOAL_SLUG_MAX);
}

/**
 * The execution's name, which is also its id in the store and in the API: `<workflow>-<key or goal slug or
 * none>-<short id>`, at most 80 characters of `[A-Za-z0-9_-]`, so a person finds it in the Step Functions
 * console by workflow and key or goal. With an idempotency key the short id is a hash of (workflow, key), so
 * a retried start with the same key gets the same name — and Step Functions' own name idempotency then
 * applies too; without one it is random (48 bits), so names are unique.
 * @example executionName('agent-loop', { input: { goal: 'Write a haiku' } }) // 'agent-loop-write-a-haiku-3f9a1c2b7d4e'
 */
export function executionName(
  workflow: string,
  request: { readonly idempotencyKey?: string | null | undefined; readonly input?: unknown },
  random: (bytes: number) => Buffer = randomBytes,
): string {
  const key = request.idempotencyKey ?? undefined;
  const shortId = key
    ? createHash('sha256').update(`${workflow}\n${key}`).digest('hex').slice(0, SHORT_ID_LENGTH)
    : random(SHORT_ID_LENGTH / 2).toString('hex');
  const workflowPart = safePart(workflow).slice(0, WORKFLOW_PART_MAX).replace(/-+$/, '') || 'workflow';
  const room = EXECUTION_NAME_MAX - workflowPart.length - SHORT_ID_LENGTH - 2;
  const middle = (safePart(key ?? '') || goalSlug(request.input) || 'none').slice(0, room).replace(/-+$/, '');
  return `${workflowPart}-${middle || 'none'}-${shortId}`;
}

/**
 * The ARN of execution `name` of a state machine (`arn:…:stateMachine:M` → `arn:…:execution:M:name`), as
 * Step Functions forms it; undefined when `stateMachineArn` is not a state machine ARN.
 * @example executionArnOf('arn:aws:states:eu-west-1:1:stateMachine:wflo-dev-hello', 'r1') // …:execution:wflo-dev-hello:r1
 */
export function executionArnOf(stateMachineArn: string, name: string): string | undefined {
  const at = stateMachineArn.indexOf(':stateMachine:');
  if (at < 0) return undefined;
  return `${stateMachineArn.slice(0, at)}:execution:${stateMachineArn.slice(at + ':stateMachine:'.length)}:${name}`;
}
