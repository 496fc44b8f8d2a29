/**
 * The DynamoDB tests' server: one dynalite (local/dynalite.ts) for a test file, started in its
 * beforeAll and closed in its afterAll, and a fresh table per `table` call, so that each test sees
 * only what it wrote.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { dynaliteClient, ensureTable, startDynalite, type DynaliteServer } from '../../local/dynalite.ts';

export interface DynaliteFixture {
  /** The client of the file's server; there from beforeAll on. */
  readonly client: DynamoDBClient;
  /** The server's endpoint, for a client of the test's own (other credentials, retries). */
  readonly endpoint: string;
  /** With `onDisk`: the temporary folder; the server's data is in its `db`. */
  readonly folder: string;
  /** Creates the table `<prefix>-<n>` (n counts this file's tables) and returns its name. */
  table(prefix: string): Promise<string>;
}

/**
 * Registers the file's dynalite server. Its tables are in memory, or with `onDisk` (the prefix of a
 * temporary folder's name) on disk in that folder, removed afterwards.
 */
export function useDynalite(options: { readonly onDisk?: string } = {}): DynaliteFixture {
  let dir: string | undefined;
  let server: DynaliteServer | undefined;
  let client: DynamoDBClient | undefined;
  let tables = 0;

  beforeAll(async () => {
    if (options.onDisk !== undefined) dir = mkdtempSync(join(tmpdir(), options.onDisk));
    server = await startDynalite(dir ? { path: join(dir, 'db') } : {});
    client = dynaliteClient(server.endpoint);
  });

  afterAll(async () => {
    try {
      client?.destroy();
      await server?.close();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  return {
    get client() {
      if (!client) throw new Error('the dynalite server starts in beforeAll: use its client from there on');
      return client;
    },
    get endpoint() {
      if (!server) throw new Error('the dynalite server starts in beforeAll: use its endpoint from there on');
      return server.endpoint;
    },
    get folder() {
      if (!dir) throw new Error(options.onDisk === undefined ? 'this dynalite server keeps its data in memory: no folder' : 'the folder is made in beforeAll');
      return dir;
    },
    async table(prefix: string) {
      const tableName = `${prefix}-${++tables}`;
      await ensureTable(this.client, tableName);
      return tableName;
    },
  };
}
