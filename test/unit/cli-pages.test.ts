/**
 * The API answers lists a page at a time (`x-next-cursor`); the CLI follows the cursor so that
 * `skiff get` shows the whole list. A real HTTP server on 127.0.0.1 serves the pages.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../cli/client.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Serves `items` `pageSize` at a time, with the index of the next one as the cursor; records every URL asked. */
async function pagedApi(items: unknown[], pageSize: number, cursorOf: (next: number) => string = String): Promise<{ url: string; asked: string[] }> {
  const asked: string[] = [];
  server = createServer((req, res) => {
    asked.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const from = Number(url.searchParams.get('cursor') ?? '0');
    const page = items.slice(from, from + pageSize);
    const next = from + pageSize < items.length ? { 'x-next-cursor': cursorOf(from + pageSize) } : {};
    res.writeHead(200, { 'content-type': 'application/json', ...next });
    res.end(JSON.stringify(page));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, asked };
}

describe('ApiClient.list', () => {
  it('follows x-next-cursor to the last page, keeping the query it was given', async () => {
    const items = Array.from({ length: 250 }, (_, i) => ({ id: `t${i}` }));
    const api = await pagedApi(items, 100);
    const got = await new ApiClient(api.url).list<{ id: string }>('/v1/tasks?namespace=default');
    expect(got).toEqual(items);
    expect(api.asked).toEqual(['/v1/tasks?namespace=default', '/v1/tasks?namespace=default&cursor=100', '/v1/tasks?namespace=default&cursor=200']);
  });

  it('asks once for a list that fits one page', async () => {
    const api = await pagedApi([{ id: 'a' }], 100);
    expect(await new ApiClient(api.url).list('/v1/hosts')).toEqual([{ id: 'a' }]);
    expect(api.asked).toEqual(['/v1/hosts']);
  });

  it('stops with an error when the API gives the same cursor twice', async () => {
    const api = await pagedApi(
      Array.from({ length: 10 }, (_, i) => i),
      2,
      () => '2',
    );
    await expect(new ApiClient(api.url).list('/v1/services')).rejects.toThrow('the API gave the cursor 2 twice for GET /v1/services');
  });
});
