import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseContext } from './stacks/context.ts';
import { createWflo } from './stacks/wflo-app.ts';

/**
 * The CDK app (cdk.json "app"): one wflo environment, checked by cdk-nag AwsSolutions during synth
 * (an unacknowledged finding fails `cdk synth`). Parameters come from CDK context: `-c key=value`.
 */
const app = new App();
createWflo(app, parseContext(app.node.getAllContext()));
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
