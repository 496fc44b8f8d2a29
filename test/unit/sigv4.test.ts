import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Checksum, SourceData } from '@smithy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, findApi } from '../../cli/client.ts';
import { signRequest } from '../../cli/sigv4.ts';

// The test's own SHA-256 over node:crypto, so the reference signer shares no hashing code with cli/sigv4.ts.
class NodeSha256 implements Checksum {
  private parts: Buffer[] = [];
  constructor(private readonly secret?: SourceData) {}
  update(data: Uint8Array): void {
    this.parts.push(Buffer.from(data));
  }
  async digest(): Promise<Uint8Array> {
    const data = Buffer.concat(this.parts);
    if (this.secret === undefined) return createHash('sha256').update(data).digest();
    return createHmac('sha256', Buffer.from(this.secret as Uint8Array | string))
      .update(data)
      .digest();
  }
  reset(): void {
    this.parts = [];
  }
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' };
const now = new Date('2026-01-02T03:04:05Z');
const body = 'apiVersion: skiff/v1\nkind: Service\nmetadata: { name: hello }\n';

function referenceSigner(region: string): SignatureV4 {
  return new SignatureV4({ service: 'execute-api', region, credentials, sha256: NodeSha256 });
}

describe('signRequest', () => {
  const url = 'https://abc123.execute-api.eu-west-1.amazonaws.com/v1/namespaces/default/services?namespace=prod&b=2&b=1';

  it('produces the same signature as the SDK signer for the same request, body hash included', async () => {
    const ours = await signRequest({ method: 'POST', url, headers: { 'Content-Type': 'application/yaml' }, body }, { region: 'eu-west-1', credentials, now });
    const ref = await referenceSigner('eu-west-1').sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
        path: '/v1/namespaces/default/services',
        query: { namespace: 'prod', b: ['2', '1'] },
        headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'content-type': 'application/yaml' },
        body,
      },
      { signingDate: now },
    );
    expect(ours.authorization).toBe(ref.headers.authorization);
    expect(ours['x-amz-date']).toBe('20260102T030405Z');
    expect(ours['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(ours['x-amz-security-token']).toBe('session-token-example');
    expect(ours['content-type']).toBe('application/yaml');
    expect(ours.host).toBe('abc123.execute-api.eu-west-1.amazonaws.com');
  });

  it('names execute-api and the region in the credential scope and signs host, date and body hash', async () => {
    const h = await signRequest({ method: 'GET', url }, { region: 'us-gov-west-1', credentials, now });
    expect(h.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260102\/us-gov-west-1\/execute-api\/aws4_request, SignedHeaders=([a-z0-9-;]+), Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(h.authorization!)![1]!.split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-content-sha256', 'x-amz-date', 'x-amz-security-token']));
  });

  it('gives a different signature when only the body changes', async () => {
    const a = await signRequest({ method: 'POST', url, body }, { region: 'eu-west-1', credentials, now });
    const b = await signRequest({ method: 'POST', url, body: `${body} ` }, { region: 'eu-west-1', credentials, now });
    expect(a.authorization).not.toBe(b.authorization);
  });
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('ApiClient against a local HTTP server', () => {
  let server: Server;
  let api: string;
  const seen: Seen[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    try {
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), 'skiff-sigv4-'));
    dirs.push(d);
    return d;
  }

  /** What the server would do: re-sign the received request from its signed headers and compare. */
  async function verify(req: Seen, region: string): Promise<void> {
    const auth = String(req.headers.authorization);
    const names = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
    const headers: Record<string, string> = {};
    for (const n of names) headers[n] = String(req.headers[n]);
    const u = new URL(req.url, api);
    const query: Record<string, string> = {};
    for (const [k, v] of u.searchParams) query[k] = v;
    const d = String(req.headers['x-amz-date']);
    const signingDate = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
    const ref = await referenceSigner(region).sign(
      { method: req.method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query, headers, body: req.body || undefined },
      { signingDate },
    );
    expect(auth).toBe(ref.headers.authorization);
  }

  it('signs every request when the API has a region, and the signature verifies on the server', async () => {
    seen.length = 0;
    const client = new ApiClient({ url: api, source: 'config', region: 'eu-west-1' }, { credentials, now: () => now });
    await client.request('POST', '/v1/services?dryRun=1', body, 'application/yaml');
    await client.request('GET', '/v1/namespaces/default/services/hello');
    expect(seen).toHaveLength(2);
    for (const req of seen) {
      expect(req.headers.authorization).toContain('/eu-west-1/execute-api/aws4_request');
      expect(req.headers['x-amz-date']).toBe('20260102T030405Z');
      expect(req.headers['x-amz-security-token']).toBe('session-token-example');
      await verify(req, 'eu-west-1');
    }
    expect(seen[0]!.headers['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
    expect(seen[0]!.body).toBe(body);
  });

  it('signs requests to the API saved with a region in the config file', async () => {
    seen.length = 0;
    const xdg = tempDir();
    mkdirSync(join(xdg, 'skiff'));
    writeFileSync(join(xdg, 'skiff', 'config.json'), JSON.stringify({ api, region: 'ap-southeast-2' }));
    const target = findApi(undefined, { env: { XDG_CONFIG_HOME: xdg }, cwd: tempDir() });
    await new ApiClient(target, { credentials, now: () => now }).request('GET', '/v1/hosts');
    expect(seen).toHaveLength(1);
    await verify(seen[0]!, 'ap-southeast-2');
  });

  it('does not sign requests to the local cluster started from this folder', async () => {
    seen.length = 0;
    const cwd = tempDir();
    mkdirSync(join(cwd, '.skiff'));
    writeFileSync(join(cwd, '.skiff', 'local.json'), JSON.stringify({ api }));
    // A config file with a region and SKIFF_REGION are both present, and neither applies to the local cluster.
    const xdg = tempDir();
    mkdirSync(join(xdg, 'skiff'));
    writeFileSync(join(xdg, 'skiff', 'config.json'), JSON.stringify({ api: 'https://abc123.execute-api.eu-west-1.amazonaws.com', region: 'eu-west-1' }));
    const target = findApi(undefined, { env: { XDG_CONFIG_HOME: xdg, SKIFF_REGION: 'eu-west-1' }, cwd });
    expect(target).toEqual({ url: api, source: 'local' });
    const credentialsAsked: string[] = [];
    await new ApiClient(target, {
      credentials: async () => {
        credentialsAsked.push('yes');
        return credentials;
      },
    }).request('POST', '/v1/services', body, 'application/yaml');
    expect(seen).toHaveLength(1);
    const names = Object.keys(seen[0]!.headers);
    expect(names.filter((n) => n === 'authorization' || n.startsWith('x-amz-'))).toEqual([]);
    expect(credentialsAsked).toEqual([]);
  });
});
