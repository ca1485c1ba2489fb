import { StatesError } from '../asl/errors.ts';
import {
  fieldValue,
  has,
  integerField,
  isObject,
  PARAMETER_PATH,
  type QueryLanguage,
  type Scope,
  statesVar,
} from '../asl/fields.ts';
import { evaluateTemplate } from '../asl/jsonata.ts';
import { evaluatePayload } from '../asl/payload.ts';
import { deterministicUuid } from '../integrations/nested.ts';
import type { LocalS3 } from '../integrations/s3.ts';
import type { AslState } from '../workflows.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../workflows.ts';

/*
 * Distributed Map (`ItemProcessor.ProcessorConfig.Mode: DISTRIBUTED`) over the local S3: ItemReader (an S3 object
 * as JSON, JSON Lines or CSV; or an S3 listing), the tolerated-failure thresholds, and ResultWriter (the Map
 * Run's results as `manifest.json` + `SUCCEEDED_0.json` / `FAILED_0.json` under `<Prefix>/<map run id>/`).
 * Items still run as iterations of the parent's interpreter (journaled like an inline Map's), not as child
 * executions; their results carry the child-execution shape Step Functions writes.
 *
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
 * @see https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
 */

const GET_OBJECT = /^arn:aws[a-z-]*:states:::s3:getObject$/;
const LIST_OBJECTS = /^arn:aws[a-z-]*:states:::s3:listObjectsV2$/;
const PUT_OBJECT = /^arn:aws[a-z-]*:states:::s3:putObject$/;
const DELIMITERS: Record<string, string> = { COMMA: ',', PIPE: '|', SEMICOLON: ';', SPACE: ' ', TAB: '\t' };

const readerFailed = (cause: string): never => {
  throw new StatesError('States.ItemReaderFailed', cause);
};

/** True for a Map whose processor runs in DISTRIBUTED mode. */
export function isDistributed(state: AslState): boolean {
  const processor = state.ItemProcessor as { ProcessorConfig?: { Mode?: unknown } } | undefined;
  return processor?.ProcessorConfig?.Mode === 'DISTRIBUTED';
}

/** `EXPRESS` or `STANDARD` (the default) child executions of a Distributed Map. */
export function executionTypeOf(state: AslState): 'EXPRESS' | 'STANDARD' {
  const processor = state.ItemProcessor as { ProcessorConfig?: { ExecutionType?: unknown } } | undefined;
  return processor?.ProcessorConfig?.ExecutionType === 'EXPRESS' ? 'EXPRESS' : 'STANDARD';
}

/** Problems that make a Distributed Map unrunnable here, found at load (empty when none). */
export function distributedMapProblems(state: AslState): string[] {
  const problems: string[] = [];
  if (!isDistributed(state) && (state.ItemReader !== undefined || state.ResultWriter !== undefined)) {
    // Step Functions allows them on a Distributed Map only; an inline Map would silently iterate its input.
    return ['ItemReader and ResultWriter need ItemProcessor.ProcessorConfig.Mode DISTRIBUTED'];
  }
  const reader = state.ItemReader;
  if (reader !== undefined) {
    if (!isObject(reader)) return ['ItemReader must be an object'];
    const resource = String(reader.Resource ?? '');
    const config = isObject(reader.ReaderConfig) ? reader.ReaderConfig : {};
    if (GET_OBJECT.test(resource)) {
      const type = config.InputType;
      if (type !== 'JSON' && type !== 'JSONL' && type !== 'CSV') {
        problems.push(
          `ItemReader InputType ${JSON.stringify(type)} is not read locally (JSON, JSONL and CSV are)`,
        );
      }
    } else if (!LIST_OBJECTS.test(resource)) {
      problems.push(
        `ItemReader Resource '${resource}' is not read locally (s3:getObject and s3:listObjectsV2 are)`,
      );
    }
  }
  const writer = state.ResultWriter;
  if (writer !== undefined) {
    if (!isObject(writer)) return [...problems, 'ResultWriter must be an object'];
    if (writer.Resource !== undefined && !PUT_OBJECT.test(String(writer.Resource))) {
      problems.push(
        `ResultWriter Resource '${String(writer.Resource)}' is not written locally (s3:putObject is)`,
      );
    }
  }
  return problems;
}

async function readerArguments(
  holder: Record<string, unknown>,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<Record<string, unknown>> {
  const value =
    ql === 'JSONata'
      ? has(holder, 'Arguments')
        ? await evaluateTemplate(holder.Arguments, statesVar(effective, scope), scope, 'Arguments')
        : {}
      : has(holder, 'Parameters')
        ? evaluatePayload(holder.Parameters, effective, scope, PARAMETER_PATH)
        : {};
  return isObject(value) ? value : {};
}

/** ItemReader: the items of the S3 object or listing it names, at most MaxItems of them. */
export async function readItems(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
  s3: LocalS3,
): Promise<unknown[]> {
  const reader = state.ItemReader as Record<string, unknown>;
  const config = (isObject(reader.ReaderConfig) ? reader.ReaderConfig : {}) as AslState;
  const args = await readerArguments(reader, effective, scope, ql);
  const bucket = String(args.Bucket ?? '');
  const maxField = await fieldValue(config, 'MaxItems', effective, scope, ql);
  const max = maxField
    ? integerField(maxField.value, maxField.field, { allowZero: true })
    : Number.POSITIVE_INFINITY;
  // MaxItems 0 means no limit (the documented default).
  const limit = (items: unknown[]) => (max > 0 && Number.isFinite(max) ? items.slice(0, max) : items);
  try {
    if (LIST_OBJECTS.test(String(reader.Resource))) {
      const listed = await s3.listObjects(bucket, typeof args.Prefix === 'string' ? args.Prefix : '');
      return limit(
        listed.map((o) => ({
          Etag: o.etag,
          Key: o.key,
          LastModified: Math.floor(o.lastModified.getTime() / 1000),
          Size: o.size,
          StorageClass: 'STANDARD',
        })),
      );
    }
    const { body } = await s3.getObject(bucket, String(args.Key ?? ''));
    const text = body.toString('utf8');
    switch (config.InputType) {
      case 'JSON': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return readerFailed(`The object s3://${bucket}/${String(args.Key)} is not valid JSON`);
        }
        if (!Array.isArray(parsed)) {
          return readerFailed(`The object s3://${bucket}/${String(args.Key)} does not hold a JSON array`);
        }
        return limit(parsed);
      }
      case 'JSONL':
        return limit(
          text
            .split(/\r?\n/)
            .filter((line) => line.trim() !== '')
            .map((line, i) => {
              try {
                return JSON.parse(line) as unknown;
              } catch {
                return readerFailed(`Line ${i + 1} of s3://${bucket}/${String(args.Key)} is not valid JSON`);
              }
            }),
        );
      default:
        return limit(csvItems(text, config));
    }
  } catch (err) {
    if (err instanceof StatesError) throw err;
    const e = err instanceof Error ? err : new Error(String(err));
    return readerFailed(`${e.name}: ${e.message}`);
  }
}

/** CSV rows as objects keyed by the header (FIRST_ROW, or GIVEN `CSVHeaders`); every value a string. */
function csvItems(text: string, config: AslState): Record<string, string>[] {
  const delimiter = DELIMITERS[String(config.CSVDelimiter ?? 'COMMA')];
  if (!delimiter) return readerFailed(`CSVDelimiter ${JSON.stringify(config.CSVDelimiter)} is not supported`);
  const rows = parseCsv(text, delimiter);
  let headers: string[];
  if (config.CSVHeaderLocation === 'GIVEN') {
    if (!Array.isArray(config.CSVHeaders) || !config.CSVHeaders.every((h) => typeof h === 'string')) {
      return readerFailed('CSVHeaderLocation GIVEN needs CSVHeaders, an array of strings');
    }
    headers = config.CSVHeaders as string[];
  } else {
    headers = rows.shift() ?? [];
  }
  return rows.map((row) => Object.fromEntries(headers.map((h, i) => [h, row[i] ?? ''])));
}

/** RFC 4180 fields: quoted fields may hold delimiters, line breaks and doubled quotes; empty lines are skipped. */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
    field = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else field += c;
    i++;
  }
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

/** The failure thresholds: exceeded when either set one is passed; with neither set, any failure exceeds. */
export async function toleranceOf(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
): Promise<(failed: number, total: number) => boolean> {
  const count = await fieldValue(state, 'ToleratedFailureCount', effective, scope, ql);
  const pct = await fieldValue(state, 'ToleratedFailurePercentage', effective, scope, ql);
  const maxCount = count ? integerField(count.value, count.field, { allowZero: true }) : undefined;
  let maxPct: number | undefined;
  if (pct) {
    const p = pct.value;
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
      throw new StatesError(
        'States.Runtime',
        `${pct.field} must be a number from 0 to 100, got ${JSON.stringify(p)}`,
      );
    }
    maxPct = p;
  }
  return (failed, total) => {
    if (failed === 0) return false;
    if (maxCount === undefined && maxPct === undefined) return true;
    if (maxCount !== undefined && failed > maxCount) return true;
    return maxPct !== undefined && total > 0 && (failed / total) * 100 > maxPct;
  };
}

export const THRESHOLD_EXCEEDED = 'States.ExceedToleratedFailureThreshold';

/** The Map Run of one Map attempt: ids derived from the execution and the entry, so a replay names the same run. */
export function mapRunOf(
  state: AslState,
  stateName: string,
  stateMachineName: string,
  seed: string,
): { arn: string; id: string; label: string } {
  const label = typeof state.Label === 'string' && state.Label !== '' ? state.Label : stateName;
  const id = deterministicUuid(`maprun/${seed}`);
  return {
    id,
    label,
    arn: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:mapRun:${stateMachineName}/${label}:${id}`,
  };
}

export type ItemOutcome =
  | { ok: true; input: unknown; output: unknown }
  | { ok: false; input: unknown; error: string; cause: string };

/**
 * ResultWriter: writes the run's results to S3 and returns the Map's output `{ MapRunArn, ResultWriterDetails }`.
 * Each result is the child execution's DescribeExecution shape (Input/Output as JSON strings); failed ones go
 * to FAILED_0.json with their Error and Cause. The manifest lists the files written.
 */
export async function writeResults(
  state: AslState,
  effective: unknown,
  scope: Scope,
  ql: QueryLanguage,
  s3: LocalS3,
  run: { arn: string; id: string; label: string },
  stateMachineName: string,
  executionType: 'EXPRESS' | 'STANDARD',
  startedAt: number,
  outcomes: readonly ItemOutcome[],
): Promise<unknown> {
  const writer = state.ResultWriter as Record<string, unknown>;
  const args = await readerArguments(writer, effective, scope, ql);
  const bucket = String(args.Bucket ?? '');
  const prefix = typeof args.Prefix === 'string' && args.Prefix !== '' ? args.Prefix.replace(/\/+$/, '') : '';
  const base = prefix === '' ? run.id : `${prefix}/${run.id}`;
  const machine = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${stateMachineName}/${run.label}`;
  const kind = executionType === 'EXPRESS' ? 'express' : 'execution';
  const stop = new Date().toISOString();
  const start = new Date(startedAt).toISOString();
  const entries = outcomes.map((o, index) => {
    const name = deterministicUuid(`${run.id}/${index}`);
    const common = {
      ExecutionArn: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${kind}:${stateMachineName}/${run.label}:${name}`,
      Input: JSON.stringify(o.input),
      InputDetails: { Included: true },
      Name: name,
    };
    return o.ok
      ? {
          ok: true,
          entry: {
            ...common,
            Output: JSON.stringify(o.output),
            OutputDetails: { Included: true },
            RedriveCount: 0,
            RedriveStatus: 'NOT_REDRIVABLE',
            RedriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
            StartDate: start,
            StateMachineArn: machine,
            Status: 'SUCCEEDED',
            StopDate: stop,
          },
        }
      : {
          ok: false,
          entry: {
            Cause: o.cause,
            Error: o.error,
            ...common,
            RedriveCount: 0,
            RedriveStatus: 'REDRIVABLE',
            StartDate: start,
            StateMachineArn: machine,
            Status: 'FAILED',
            StopDate: stop,
          },
        };
  });
  const files: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', { Key: string; Size: number }[]> = {
    FAILED: [],
    PENDING: [],
    SUCCEEDED: [],
  };
  try {
    for (const status of ['SUCCEEDED', 'FAILED'] as const) {
      const list = entries.filter((e) => e.ok === (status === 'SUCCEEDED')).map((e) => e.entry);
      if (list.length === 0) continue;
      const key = `${base}/${status}_0.json`;
      const body = JSON.stringify(list);
      await s3.putObject(bucket, key, body);
      files[status].push({ Key: key, Size: Buffer.byteLength(body, 'utf8') });
    }
    const manifestKey = `${base}/manifest.json`;
    await s3.putObject(
      bucket,
      manifestKey,
      JSON.stringify({ DestinationBucket: bucket, MapRunArn: run.arn, ResultFiles: files }),
    );
    return { MapRunArn: run.arn, ResultWriterDetails: { Bucket: bucket, Key: manifestKey } };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    throw new StatesError('States.ResultWriterFailed', `${e.name}: ${e.message}`);
  }
}
