import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { REPO_ROOT } from '../../infra/constructs/wflo-function.ts';
import { parseContext } from '../../infra/stacks/context.ts';
import { createWflo, type WfloOptions, type WfloStacks } from '../../infra/stacks/wflo-app.ts';

/** The feature flags and defaults the CLI would load from cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  return (
    JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
  ).context;
}

/** A fresh App as `cdk synth` builds it, with bundling skipped (tests read templates, not bundles). */
export function testApp(extraContext: Record<string, unknown> = {}): { app: App; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'wflo-infra-'));
  const app = new App({
    outdir,
    context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], ...extraContext },
  });
  return { app, outdir };
}

/** The five environment stacks (the shared API Gateway account stack is not one of them). */
export type StackKey = Exclude<keyof WfloStacks, 'apiGatewayAccount'>;
export const STACK_KEYS: readonly StackKey[] = ['network', 'data', 'orchestration', 'api', 'monitoring'];

export interface SynthesizedWflo {
  readonly app: App;
  readonly stacks: WfloStacks;
  readonly templates: Record<StackKey, Template>;
  /** Raw template JSON by stack. */
  readonly json: Record<StackKey, CfnTemplate>;
  cleanup(): void;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  [key: string]: unknown;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  [key: string]: unknown;
}

/** Builds and synthesizes the whole app once (about 4 s on 2 cores) with the given context. */
export function synthWflo(
  rawContext: Record<string, unknown> = {},
  options: WfloOptions = {},
): SynthesizedWflo {
  const { app, outdir } = testApp(rawContext);
  const ctx = parseContext({ ...app.node.getAllContext() });
  const stacks = createWflo(app, ctx, options);
  const assembly = app.synth();
  const json = Object.fromEntries(
    STACK_KEYS.map((k) => [k, assembly.getStackByName(stacks[k].stackName).template as CfnTemplate]),
  ) as Record<StackKey, CfnTemplate>;
  const templates = Object.fromEntries(STACK_KEYS.map((k) => [k, Template.fromJSON(json[k])])) as Record<
    StackKey,
    Template
  >;
  return { app, stacks, templates, json, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** Resources of a type in a template, by logical id. */
export function resourcesOfType(t: CfnTemplate, type: string): [string, CfnResource][] {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

/** Every statement of the AWS::IAM::Policy resources attached to a role (by the role's logical id). */
export function statementsOfRole(t: CfnTemplate, roleLogicalId: string): PolicyStatementJson[] {
  const out: PolicyStatementJson[] = [];
  for (const [, r] of resourcesOfType(t, 'AWS::IAM::Policy')) {
    const roles = (r.Properties?.Roles as { Ref: string }[] | undefined) ?? [];
    if (!roles.some((x) => x.Ref === roleLogicalId)) continue;
    const doc = r.Properties?.PolicyDocument as { Statement: PolicyStatementJson[] };
    out.push(...doc.Statement);
  }
  const role = t.Resources[roleLogicalId];
  for (const p of (role?.Properties?.Policies as {
    PolicyDocument: { Statement: PolicyStatementJson[] };
  }[]) ?? []) {
    out.push(...p.PolicyDocument.Statement);
  }
  return out;
}

export const actionsOf = (s: PolicyStatementJson): string[] =>
  Array.isArray(s.Action) ? s.Action : [s.Action];
export const resourcesOf = (s: PolicyStatementJson): unknown[] =>
  Array.isArray(s.Resource) ? s.Resource : [s.Resource];

/** Logical id of a construct's default CloudFormation resource. */
export function logicalId(construct: IConstruct): string {
  const element = CfnElement.isCfnElement(construct)
    ? construct
    : (construct.node.defaultChild as CfnElement);
  return Stack.of(construct).getLogicalId(element);
}

/** Replaces asset hashes and bundle keys so a snapshot changes only when the infrastructure does. */
export function withoutAssetHashes(template: CfnTemplate): unknown {
  const text = JSON.stringify(template)
    .replace(/[0-9a-f]{64}(\.zip|\.json)?/g, '<hash>$1')
    .replace(/"MigrationsHash":"[0-9a-f]+"/g, '"MigrationsHash":"<hash>"');
  return JSON.parse(text);
}

/** Runs cdk-nag AwsSolutions over a construct tree (the same pack `cdk synth` runs through Validations). */
export function nagFindings(scope: IConstruct) {
  return new AwsSolutionsChecks().validateScope(scope).violations;
}

/** The pack's findings as if nothing had been acknowledged. */
export function rawNagFindings(scope: IConstruct) {
  const pack = new AwsSolutionsChecks();
  // The acknowledgement check is private in cdk-nag; disabling it shows what each acknowledgement covers.
  (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  return pack.validateScope(scope).violations;
}

export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every `Validations.of(x).acknowledge()` in a construct tree. */
export function acknowledgements(scope: IConstruct): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  const walk = (c: IConstruct): void => {
    for (const m of c.node.metadata) {
      if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [key, reason] of Object.entries(m.data as Record<string, string>)) {
        out.push({ path: c.node.path, id: key.replace(/^annotation::/i, ''), reason });
      }
    }
    for (const child of c.node.children) walk(child);
  };
  walk(scope);
  return out;
}
