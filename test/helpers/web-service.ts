/**
 * The end-to-end tests' workload and how they reach it through the load balancer: a busybox httpd
 * on port 8080 (named `http`) that serves its hostname at `/` and `<service> <hostname>` under
 * `/api/`, and keeps a `/tmp/healthy` an exec probe can look for.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { type CliResult, eventually, json } from './cli.ts';

export interface WebServiceOptions {
  readonly replicas: number;
  /** @default '50m' */
  readonly cpu?: string;
  readonly restartPolicy?: 'always' | 'onFailure' | 'never';
  /** The spec's `ingress` value, as YAML (`{ host: …, port: http }`). */
  readonly ingress?: string;
  /** More lines of the spec, indented two spaces (a health check, placement). */
  readonly extra?: string;
}

/** Writes the service's YAML to `<dir>/<name>.yaml` and returns the file's path, for `skiff apply -f`. */
export function writeWebService(dir: string, name: string, o: WebServiceOptions): string {
  const file = join(dir, `${name}.yaml`);
  const lines = [
    'kind: Service',
    `metadata: { name: ${name} }`,
    'spec:',
    `  replicas: ${o.replicas}`,
    ...(o.restartPolicy ? [`  restartPolicy: ${o.restartPolicy}`] : []),
    '  containers:',
    '    - name: web',
    '      image: skiff/busybox:latest',
    `      command: ["sh", "-c", "mkdir -p /tmp /www/api && touch /tmp/healthy && hostname > /www/index.html && echo ${name} $(hostname) > /www/api/index.html && exec httpd -f -p 8080 -h /www"]`,
    '      ports: [{ containerPort: 8080, name: http }]',
    `      resources: { cpu: ${o.cpu ?? '50m'}, memory: 16Mi }`,
    ...(o.ingress ? [`  ingress: ${o.ingress}`] : []),
  ];
  writeFileSync(file, `${lines.join('\n')}\n${o.extra ?? ''}`);
  return file;
}

/** The port of a URL, the scheme's default when the URL leaves it out (the load balancer may be on 80 and 443). */
export function portOf(url: string): number {
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

type Cli = (...args: string[]) => Promise<CliResult>;

/**
 * A local cluster's load balancer as a client sees it for one host name: curl on 127.0.0.1 (the
 * name resolved with --resolve) trusting the cluster's local CA, and the checks that the Node proxy
 * and the HAProxy data plane both have to pass.
 */
export class LocalIngress {
  private constructor(
    private readonly dir: string,
    private readonly cli: Cli,
    readonly host: string,
    readonly httpPort: number,
    readonly httpsPort: number,
    readonly ca: string,
  ) {}

  /** Reads the ports and the CA from `skiff local status`. */
  static async of(dir: string, cli: Cli, host: string): Promise<LocalIngress> {
    const status = json<{ proxy: string; proxyHttps: string; ca: string }>(await cli('local', 'status', '-o', 'json'));
    return new LocalIngress(dir, cli, host, portOf(status.proxy), portOf(status.proxyHttps), status.ca);
  }

  https(path = '/'): string {
    return `https://${this.host}:${this.httpsPort}${path}`;
  }

  /** The body, or what `-w` asks for; never throws on an HTTP status (it does on a failed connection). */
  async curl(url: string, ...flags: string[]): Promise<string> {
    const resolve = (port: number) => ['--resolve', `${this.host}:${port}:127.0.0.1`];
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      this.ca,
      ...resolve(this.httpsPort),
      ...resolve(this.httpPort),
      ...flags,
      url,
    ]);
    return stdout.trim();
  }

  /**
   * Applies `shop` (2 replicas, TLS, session affinity) and checks that HTTPS answers, that a client
   * with the cookie stays on its replica, that HTTP is redirected to HTTPS and that h2 is negotiated.
   */
  async expectShopOverHttps(): Promise<void> {
    const shop = writeWebService(this.dir, 'shop', { replicas: 2, ingress: `{ host: ${this.host}, port: http, sessionAffinity: true, tls: true }` });
    expect((await this.cli('apply', '-f', shop)).code).toBe(0);
    const jar = join(this.dir, 'jar');
    const first = await eventually(
      async () => {
        const body = await this.curl(this.https('/'), '-c', jar, '-w', ' %{http_code}').catch(() => '');
        // The page ends with a newline, then curl's ' 200'.
        return body.endsWith(' 200') ? body.slice(0, -4).trim() : undefined;
      },
      'an HTTPS answer from a replica',
      40_000,
      500,
    );
    for (let i = 0; i < 4; i++) expect(await this.curl(this.https('/'), '-b', jar)).toBe(first);
    // The Location leaves out the port when it is 443 (the load balancer may run on 80 and 443).
    const location = this.httpsPort === 443 ? `https://${this.host}/cart?x=1` : this.https('/cart?x=1');
    const redirect = await this.curl(`http://${this.host}:${this.httpPort}/cart?x=1`, '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}');
    expect(redirect).toBe(`308 ${location}`);
    expect(await this.curl(this.https('/'), '--http2', '-o', '/dev/null', '-w', '%{http_version}')).toBe('2');
  }

  /** Applies `api` on `/api` of the shop's host, and checks that /api reaches it and `/` still the shop. */
  async expectApiOnItsPath(): Promise<void> {
    const api = writeWebService(this.dir, 'api', { replicas: 1, ingress: `{ host: ${this.host}, port: http, path: /api, tls: true }` });
    expect((await this.cli('apply', '-f', api)).code).toBe(0);
    const answer = await eventually(
      async () => {
        const body = (await this.curl(this.https('/api/'), '-w', ' %{http_code}').catch(() => '')).replace(/\s+/g, ' ');
        return body.startsWith('api ') && body.endsWith(' 200') ? body : undefined;
      },
      'the api service behind /api',
      40_000,
      500,
    );
    expect(answer).toMatch(/^api \S+ 200$/);
    // `/` still reaches the shop's replicas (a hostname, not the api's answer).
    expect(await this.curl(this.https('/'))).not.toMatch(/^api /);
  }
}

const run = promisify(execFile);
