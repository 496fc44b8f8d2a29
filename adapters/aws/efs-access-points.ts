/**
 * EFS access points over EFS's REST API (no EFS SDK client is installed): one per persistent volume,
 * rooted at `/skiff/<volume id>`, tagged with the cluster (the host role may create only those).
 * CreateAccessPoint is idempotent by its ClientToken: the same volume always gets the same access
 * point, whichever host asks first; asking again is answered `AccessPointAlreadyExists` with its id.
 */
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@smithy/core/checksum';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';
import { SkiffError } from '../../core/errors.ts';

/** An access point per volume; the agent's EFS volume manager asks through this port. */
export interface AccessPoints {
  /** The id of the volume's access point (`fsap-…`), created on first use. */
  ensure(volumeId: string): Promise<string>;
  /** The id of the volume's access point, or undefined when it has none (never made, or deleted). */
  find(volumeId: string): Promise<string | undefined>;
  /** Deletes the volume's access point (`--delete-volumes`); none is not an error. The data under its root stays on the file system. */
  remove(volumeId: string): Promise<void>;
}

export interface EfsAccessPointsOptions {
  readonly region: string;
  readonly fileSystemId: string;
  readonly clusterName: string;
  readonly credentials: Provider<AwsCredentialIdentity>;
  /** @default `https://elasticfilesystem.<region>.amazonaws.com` */
  readonly endpoint?: string;
  readonly fetch?: typeof fetch;
}

/**
 * A create answers within a second; EFS makes the root directory on first mount, not here. 10 s bounds
 * a call so that a stuck one cannot hold a pod's creation for long (the next round asks again).
 */
const CALL_TIMEOUT_MS = 10_000;

/**
 * CreateAccessPoint with a ClientToken already used answers 409 `AccessPointAlreadyExists`, whose body
 * carries the `AccessPointId` (EFS API reference): the access point another host (or this one, before a
 * restart) created for the volume. It is the one wanted.
 */
const ALREADY_EXISTS: ReadonlySet<string> = new Set(['AccessPointAlreadyExists']);

const NOT_FOUND: ReadonlySet<string> = new Set(['AccessPointNotFound']);

/** What DescribeAccessPoints answers (the fields used). */
interface DescribeAnswer {
  readonly AccessPoints?: readonly { readonly AccessPointId?: string; readonly Tags?: readonly { readonly Key: string; readonly Value: string }[] }[];
  readonly NextToken?: string | null;
}

/** The `ErrorCode` of an EFS error body, or '' when it has none. */
function errorCode(text: string): string {
  try {
    const code = (JSON.parse(text) as { ErrorCode?: unknown }).ErrorCode;
    return typeof code === 'string' ? code : '';
  } catch {
    return '';
  }
}

export class EfsAccessPoints implements AccessPoints {
  private readonly known = new Map<string, string>();
  constructor(private readonly o: EfsAccessPointsOptions) {}

  async ensure(volumeId: string): Promise<string> {
    const cached = this.known.get(volumeId);
    if (cached) return cached;
    const body = JSON.stringify({
      // At most 64 characters: a hash of the cluster and the volume id, the same from every host.
      ClientToken: createHash('sha256').update(`${this.o.clusterName}/${volumeId}`).digest('hex').slice(0, 64),
      FileSystemId: this.o.fileSystemId,
      // Writable by whatever user the container runs as (root is squashed without ClientRootAccess).
      RootDirectory: { Path: `/skiff/${volumeId}`, CreationInfo: { OwnerUid: 0, OwnerGid: 0, Permissions: '0777' } },
      Tags: [
        { Key: 'skiff:cluster', Value: this.o.clusterName },
        { Key: 'skiff:volume', Value: volumeId },
      ],
    });
    const answer = await this.call('POST', '/2015-02-01/access-points', body, ALREADY_EXISTS);
    const id = (answer as { AccessPointId?: unknown }).AccessPointId;
    if (typeof id !== 'string' || !id.startsWith('fsap-')) throw new SkiffError(`EFS CreateAccessPoint for volume ${volumeId} answered no access point id`);
    this.known.set(volumeId, id);
    return id;
  }

  async find(volumeId: string): Promise<string | undefined> {
    const cached = this.known.get(volumeId);
    if (cached) return cached;
    // DescribeAccessPoints by file system, a page at a time (at most 1,000 access points per file system,
    // 100 a page): the volume's is the one tagged with the cluster and the volume id.
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ FileSystemId: this.o.fileSystemId, MaxResults: '100', ...(token ? { NextToken: token } : {}) });
      const page = (await this.call('GET', `/2015-02-01/access-points?${query}`, '')) as DescribeAnswer;
      for (const ap of page.AccessPoints ?? []) {
        const tags = new Map((ap.Tags ?? []).map((t) => [t.Key, t.Value]));
        if (tags.get('skiff:cluster') === this.o.clusterName && tags.get('skiff:volume') === volumeId && typeof ap.AccessPointId === 'string') {
          this.known.set(volumeId, ap.AccessPointId);
          return ap.AccessPointId;
        }
      }
      token = page.NextToken ?? undefined;
    } while (token);
    return undefined;
  }

  async remove(volumeId: string): Promise<void> {
    const id = await this.find(volumeId);
    if (id === undefined) return;
    // Not found: deleted meanwhile (by an earlier try whose answer was lost).
    await this.call('DELETE', `/2015-02-01/access-points/${encodeURIComponent(id)}`, '', NOT_FOUND);
    this.known.delete(volumeId);
  }

  /** The JSON answer; an error whose `ErrorCode` is in `accept` is answered as its body instead of thrown. */
  private async call(method: string, path: string, body: string, accept: ReadonlySet<string> = new Set()): Promise<unknown> {
    const url = new URL(path, this.o.endpoint ?? `https://elasticfilesystem.${this.o.region}.amazonaws.com`);
    const signer = new SignatureV4({ service: 'elasticfilesystem', region: this.o.region, credentials: this.o.credentials, sha256: Sha256 });
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      // The query is signed apart from the path (SigV4's canonical query string).
      ...(url.search ? { query: Object.fromEntries(url.searchParams) } : {}),
      headers: { host: url.host, 'content-type': 'application/json' },
      ...(body ? { body } : {}),
    });
    const res = await (this.o.fetch ?? fetch)(url, {
      method,
      headers: signed.headers as Record<string, string>,
      // GET and DELETE carry none (fetch refuses a GET with a body).
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok && !accept.has(errorCode(text))) throw new SkiffError(`EFS ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as unknown) : {};
  }
}
