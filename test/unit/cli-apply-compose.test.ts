/**
 * `skiff apply -f` with a Compose file (issue 16): told by its content whatever its name, converted
 * on the client, and sent to POST /v1/apply as the Skiff documents `skiff convert` prints. The API is
 * a real HTTP server on 127.0.0.1 (port chosen by the OS) that records what it is sent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Out } from '../../cli/command.ts';
import { main } from '../../cli/main.ts';
import { parseDocumentsText } from '../../core/spec/documents.ts';

const dir = mkdtempSync(join(tmpdir(), 'skiff-apply-compose-'));
const received: { method: string; url: string; body: string }[] = [];
let server: Server;
let api: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      const docs = parseDocumentsText(body);
      const results = docs.map((d) =>
        d.kind === 'Secret'
          ? { kind: 'Secret', namespace: d.secret.metadata.namespace, name: d.secret.metadata.name, result: 'created', keys: [] }
          : { kind: d.kind, namespace: d.spec.metadata.namespace, name: d.spec.metadata.name, result: 'created', specVersion: 1 },
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      // One service goes to POST /v1/services, several documents to POST /v1/apply.
      if (req.url === '/v1/services') {
        const { namespace, name } = results[0];
        res.end(JSON.stringify({ result: 'created', service: { namespace, name, specVersion: 1 } }));
      } else res.end(JSON.stringify({ results }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function run(args: string[]) {
  const logs: string[] = [];
  const errs: string[] = [];
  const out: Out = { log: (s) => logs.push(s), err: (s) => errs.push(s), isTTY: false };
  const code = await main([...args, '--api', api, '--token', 'test-token'], out);
  return { code, stdout: logs.join('\n'), stderr: errs.join('\n') };
}

describe('skiff apply -f with a Compose file', () => {
  it('converts a file named anything (told by its content) and applies every service in one request', async () => {
    const file = join(dir, 'stack.yml');
    writeFileSync(
      file,
      `name: shop
services:
  web:
    image: nginx:1.27
    deploy: { resources: { limits: { cpus: "0.1", memory: 32M } } }
  db:
    image: postgres:16
    deploy: { resources: { limits: { cpus: "0.5", memory: 256M } } }
`,
    );
    received.length = 0;
    const r = await run(['apply', '-f', file, '--no-wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(received.map((q) => `${q.method} ${q.url}`)).toEqual(['POST /v1/apply']);
    const sent = parseDocumentsText(received[0].body);
    expect(sent.map((d) => d.kind !== 'Secret' && `${d.spec.metadata.namespace}/${d.spec.metadata.name}`)).toEqual(['shop/web', 'shop/db']);
    expect(r.stdout).toBe('service shop/web created (spec version 1)\nservice shop/db created (spec version 1)');
    expect(r.stderr).toBe('');
  });

  it('prints the warnings and applies; --strict refuses before anything is sent', async () => {
    const file = join(dir, 'compose.yaml');
    writeFileSync(
      file,
      'services:\n  web:\n    image: nginx:1.27\n    container_name: web1\n    deploy: { resources: { limits: { cpus: "0.1", memory: 32M } } }\n',
    );
    received.length = 0;
    const ok = await run(['apply', '-f', file, '--no-wait', '-n', 'demo']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/^warning: services\.web\.container_name: is left out/);
    expect(received.map((q) => `${q.method} ${q.url}`)).toEqual(['POST /v1/services']);
    expect(ok.stdout).toBe('service demo/web created (spec version 1)');
    expect(parseDocumentsText(received[0].body)[0]).toMatchObject({ kind: 'Service', spec: { metadata: { namespace: 'demo', name: 'web' } } });
    received.length = 0;
    const strict = await run(['apply', '-f', file, '--no-wait', '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('services.web.container_name: is left out');
    expect(received).toEqual([]);
  });

  it('refuses --strict and --profile on a Skiff file, before anything is sent', async () => {
    const file = join(dir, 'svc.yaml');
    writeFileSync(file, 'kind: Service\nmetadata: { name: web }\nspec:\n  containers: [{ name: web, image: nginx:1.27 }]\n');
    received.length = 0;
    const r = await run(['apply', '-f', file, '--strict']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--strict and --profile apply to Compose files');
    expect(received).toEqual([]);
  });

  it('leaves a Skiff file as it is', async () => {
    const file = join(dir, 'docker-compose.yml');
    writeFileSync(
      file,
      'kind: Service\nmetadata: { name: web }\nspec:\n  containers: [{ name: web, image: nginx:1.27 }]\n---\nkind: Service\nmetadata: { name: b }\nspec:\n  containers: [{ name: b, image: nginx:1.27 }]\n',
    );
    received.length = 0;
    const r = await run(['apply', '-f', file, '--no-wait']);
    expect(r.code, r.stderr).toBe(0);
    expect(received[0].body).toBe(
      'kind: Service\nmetadata: { name: web }\nspec:\n  containers: [{ name: web, image: nginx:1.27 }]\n---\nkind: Service\nmetadata: { name: b }\nspec:\n  containers: [{ name: b, image: nginx:1.27 }]\n',
    );
  });
});
