/**
 * The embedded DynamoDB for local mode and tests: dynalite (LevelDB behind the DynamoDB JSON
 * protocol), plus the one table definition that both dynalite and the CDK stack use.
 *
 * dynalite has no TransactWriteItems, no TTL and no streams; the store is written so it needs none.
 */
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  type CreateTableCommandInput,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { SkiffError } from '../core/errors.ts';

/** The one secondary index: lists of services, hosts and host statuses (see docs/state.md). */
export const GSI1 = 'gsi1';

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}

// dynalite is CommonJS without type declarations; this is the slice of it we use. Loaded on first
// start only, so that the CDK app can import tableDefinition without loading LevelDB.
function loadDynalite(): (options: DynaliteOptions) => Server {
  return createRequire(import.meta.url)('dynalite') as (options: DynaliteOptions) => Server;
}

/** How long close waits for the requests being answered before it cuts their connections. */
const CLOSE_DRAIN_MS = 5_000;

// LevelDB locks its folder, and a second dynalite on a locked folder crashes its whole process with an
// error nobody can catch. So each server first claims the folder with a pid file of its own.
const LOCK_FILE = 'skiff-dynalite.pid';

export interface DynaliteServer {
  /** `http://127.0.0.1:<port>`: give it to the SDK client as `endpoint`. */
  readonly endpoint: string;
  /** Stop serving and close the LevelDB folder (safe to start again on it afterwards). */
  close(): Promise<void>;
}

/** Start dynalite on 127.0.0.1 (in memory when `path` is absent; `port` 0 or absent = any free port). */
export async function startDynalite(opts: { path?: string; port?: number } = {}): Promise<DynaliteServer> {
  const folder = opts.path === undefined ? undefined : resolve(opts.path);
  if (folder !== undefined) await claimFolder(folder);
  const release = (): void => {
    if (folder !== undefined) rmSync(join(folder, LOCK_FILE), { force: true });
  };
  // Table state changes are instant so that ensureTable does not wait on a simulated delay.
  const server = loadDynalite()({ ...(folder === undefined ? {} : { path: folder }), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // The requests being answered: close lets them finish first. A connection cut under one leaves
  // dynalite working on a table it then closes, which throws where nobody can catch it.
  const answering = new Set<ServerResponse>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    answering.add(res);
    res.once('close', () => answering.delete(res));
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    try {
      const stopped = new Promise<void>((ok, fail) => server.close((err?: Error) => (err ? fail(err) : ok())));
      server.closeIdleConnections();
      for (const end = Date.now() + CLOSE_DRAIN_MS; answering.size > 0 && Date.now() < end; ) await sleep(10);
      // SDK clients keep connections alive; without this, close waits for them to time out.
      server.closeAllConnections();
      await stopped;
    } finally {
      release();
    }
  };
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    release();
    throw new SkiffError(`dynalite could not listen on 127.0.0.1:${opts.port ?? 0}`, { cause: err });
  }
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // LevelDB opens lazily: probe once so that a locked or unreadable folder fails here, not later.
  const probe = dynaliteClient(endpoint);
  try {
    await probe.send(new ListTablesCommand({}));
  } catch (err) {
    await close().catch(() => undefined);
    throw new SkiffError(`dynalite could not open its data folder ${folder ?? '(memory)'}`, { cause: err });
  } finally {
    probe.destroy();
  }
  return { endpoint, close };
}

async function claimFolder(folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  const lock = join(folder, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SkiffError(`cannot claim dynalite data folder ${folder}`, { cause: err });
      }
    }
    const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new SkiffError(
        `dynalite data folder ${folder} is in use by process ${owner}${owner === process.pid ? ' (this one)' : ''}: use one folder per server, or close the other first`,
      );
    }
    // The owner died without closing: the folder is free again.
    rmSync(lock, { force: true });
  }
  throw new SkiffError(`cannot claim dynalite data folder ${folder}: another process keeps claiming it`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A DynamoDB client for a local endpoint (dynalite checks no credentials, the SDK wants some). */
export function dynaliteClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** The CreateTable input of Skiff's single table: `pk`/`sk` keys, on-demand, one GSI `gsi1` projecting all. */
export function tableDefinition(tableName: string): CreateTableCommandInput & { TableName: string } {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: GSI1,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  };
}

// On AWS an on-demand table with one index is ACTIVE within seconds to a minute; 5 minutes means broken.
const ACTIVE_TIMEOUT_MS = 5 * 60_000;
// dynalite flips to ACTIVE within a tick, AWS within seconds: poll fast first, then back off to 1 s.
const ACTIVE_POLL_FIRST_MS = 10;
const ACTIVE_POLL_MAX_MS = 1000;

/** Create the table if it is absent, then wait until it and its index are ACTIVE. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  let table = await describe(client, tableName);
  if (table === undefined) {
    try {
      await client.send(new CreateTableCommand(tableDefinition(tableName)));
    } catch (err) {
      // Another process created it between our describe and create: fine, wait for it below.
      if (errorName(err) !== 'ResourceInUseException') {
        throw new SkiffError(`could not create DynamoDB table ${tableName}`, { cause: err });
      }
    }
    table = await describe(client, tableName);
  }
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  for (let poll = 0; !isActive(table); poll++) {
    if (Date.now() > deadline) {
      throw new SkiffError(`DynamoDB table ${tableName} is not ACTIVE after ${ACTIVE_TIMEOUT_MS / 1000} s (status ${table?.TableStatus ?? 'absent'})`);
    }
    await sleep(Math.min(ACTIVE_POLL_MAX_MS, ACTIVE_POLL_FIRST_MS * 2 ** poll));
    table = await describe(client, tableName);
  }
  const index = table!.GlobalSecondaryIndexes?.find((i) => i.IndexName === GSI1);
  const keys = table!.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
  if (keys !== 'pk:HASH,sk:RANGE' || index === undefined) {
    throw new SkiffError(
      `DynamoDB table ${tableName} exists with another shape (keys ${keys}, index ${GSI1} ${index ? 'present' : 'missing'}); expected tableDefinition()`,
    );
  }
}

function isActive(table: TableDescription | undefined): boolean {
  if (table?.TableStatus !== 'ACTIVE') return false;
  return (table.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === undefined || i.IndexStatus === 'ACTIVE');
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') return undefined;
    throw new SkiffError(`could not describe DynamoDB table ${tableName}`, { cause: err });
  }
}

function errorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err ? String(err.name) : undefined;
}
