import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';

/*
 * The embedded DynamoDB behind `dynamodb:*` and `aws-sdk:dynamodb:*` Tasks when no DynamoDB endpoint is
 * configured: dynalite (a DynamoDB implementation on LevelDB, Apache-2.0) started in this process on a loopback
 * port the first time a Task needs it, and the real `@aws-sdk/client-dynamodb` pointed at it, so expressions,
 * conditions, validation messages and error names are DynamoDB's, not a local re-implementation's. Its data is
 * kept under the data directory (`<WFLO_DATA_DIR>/dynamodb`) and survives a restart; with no directory
 * (`memory://`, tests) it lives in memory.
 *
 * Tables: as on AWS, a Task never creates its table. Declare them in `dynamodb-tables.json` beside the
 * workflows (an array of CreateTable requests, the shape of `aws dynamodb create-table --cli-input-json`); each
 * one missing is created when the embedded DynamoDB starts. A workflow may also create one with an
 * `aws-sdk:dynamodb:createTable` Task.
 */

const require = createRequire(import.meta.url);

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}
// dynalite is CommonJS without type declarations: typed here to what this module calls. Required when the first
// Task needs it, not when the engine loads: its LevelDB stack is ~100 ms of every `wflo dev` start otherwise.
const dynalite = (options: DynaliteOptions): Server =>
  (require('dynalite') as (options: DynaliteOptions) => Server)(options);

/** dynalite checks that requests are signed, not by whom. */
export const EMBEDDED_CREDENTIALS = { accessKeyId: 'wflo-local', secretAccessKey: 'wflo-local' } as const;

/** The file, in the workflows folder, declaring the tables the embedded DynamoDB creates. */
export const DYNAMODB_TABLES_FILE = 'dynamodb-tables.json';

export interface EmbeddedDynamoDbOptions {
  /** Where the data is kept; undefined keeps it in memory. */
  readonly dir?: string;
  /** `dynamodb-tables.json`: the tables to create when missing; ignored when the file does not exist. */
  readonly tablesFile?: string;
  readonly region: string;
  /** How long dynalite keeps a new table CREATING. @default 0 (tests widen it to check start-up waits it out) */
  readonly createTableMs?: number;
}

/** Reads a tables file: an array of CreateTable requests (or `{ "Tables": [...] }`). */
export function readTablesFile(file: string): CreateTableCommandInput[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new Error(`${file}: not valid JSON`, { cause });
  }
  const tables = Array.isArray(parsed) ? parsed : (parsed as { Tables?: unknown })?.Tables;
  if (!Array.isArray(tables) || tables.some((t) => typeof t?.TableName !== 'string')) {
    throw new Error(`${file}: expected an array of CreateTable requests, each with a TableName`);
  }
  return tables as CreateTableCommandInput[];
}

/**
 * Waits until a table is ACTIVE. dynalite answers CreateTable with CREATING and flips the status on a timer,
 * even with createTableMs 0; an item call in between is refused with ResourceNotFoundException (seen on a
 * loaded machine). A declared table is there to be used at once, so the first Task must not see it CREATING.
 */
async function untilActive(client: DynamoDBClient, tableName: string, boundMs = 30_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) {
      throw new Error(
        `embedded DynamoDB: table ${tableName} still ${Table?.TableStatus} after ${boundMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** One embedded DynamoDB, started on first use. */
export class EmbeddedDynamoDb {
  readonly #options: EmbeddedDynamoDbOptions;
  #started: Promise<{ server: Server; client: DynamoDBClient; endpoint: string }> | undefined;

  constructor(options: EmbeddedDynamoDbOptions) {
    this.#options = options;
  }

  /** The loopback URL of the embedded DynamoDB, starting it (and creating the declared tables) the first time. */
  async endpoint(): Promise<string> {
    this.#started ??= this.#start().catch((err: unknown) => {
      this.#started = undefined;
      throw err;
    });
    return (await this.#started).endpoint;
  }

  async #start(): Promise<{ server: Server; client: DynamoDBClient; endpoint: string }> {
    const { dir, tablesFile, region } = this.#options;
    if (dir) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Tables are ACTIVE at once: there is no provisioning to wait for on one machine.
    const server = dynalite({
      ...(dir ? { path: dir } : {}),
      createTableMs: this.#options.createTableMs ?? 0,
      deleteTableMs: 0,
      updateTableMs: 0,
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The server must not keep a process alive that has nothing else to do.
    server.unref();
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new DynamoDBClient({ endpoint, region, credentials: EMBEDDED_CREDENTIALS });
    if (tablesFile && existsSync(tablesFile)) {
      for (const table of readTablesFile(tablesFile)) {
        try {
          await client.send(new DescribeTableCommand({ TableName: table.TableName }));
        } catch (err) {
          if (!(err instanceof ResourceNotFoundException)) throw err;
          await client.send(new CreateTableCommand(table));
        }
        await untilActive(client, table.TableName as string);
      }
    }
    return { server, client, endpoint };
  }

  /** Stops the server (its data stays on disk). */
  async close(): Promise<void> {
    const started = this.#started;
    this.#started = undefined;
    if (!started) return;
    const { server, client } = await started.catch(() => ({ server: undefined, client: undefined }));
    client?.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
