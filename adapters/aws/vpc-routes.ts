/**
 * The `HostRoutes` port on a VPC: a route of each host subnet to its instance in every route table
 * of the cluster's subnets, so a packet for a container address goes to the host that runs it
 * (docs/network.md). The instance forwards packets that are not addressed to itself, so its
 * source/destination check must be off.
 */
import {
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeRouteTablesCommand,
  ModifyInstanceAttributeCommand,
  ReplaceRouteCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { parseCidr, formatCidr } from '../../core/cidr.ts';
import { LimitError, NotFoundError, SkiffError, ValidationError } from '../../core/errors.ts';
import type { HostRoutes, RouteEntry } from '../../ports/network.ts';
import { ec2Failure } from './ec2-errors.ts';
import { sdkErrorCode } from './sdk-errors.ts';

export interface VpcRoutesOptions {
  /** The route tables of every subnet the cluster's hosts (and anything talking to containers) live in. */
  readonly routeTableIds: readonly string[];
}

const OPTION_KEYS = new Set(['routeTableIds']);
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const ROUTE_TABLE_ID = /^rtb-[0-9a-f]{8,17}$/;

/** Host routes in VPC route tables (EC2 API). */
export class VpcRoutes implements HostRoutes {
  private readonly routeTableIds: readonly string[];

  constructor(
    private readonly client: EC2Client,
    options: VpcRoutesOptions,
  ) {
    const unknown = Object.keys(options).filter((k) => !OPTION_KEYS.has(k));
    if (unknown.length > 0) throw new SkiffError(`VpcRoutes: unknown option(s) ${unknown.join(', ')}`);
    const ids = options.routeTableIds;
    if (!Array.isArray(ids) || ids.length === 0) throw new SkiffError('VpcRoutes: routeTableIds must list at least one route table');
    const bad = ids.filter((id) => typeof id !== 'string' || !ROUTE_TABLE_ID.test(id));
    if (bad.length > 0) throw new SkiffError(`VpcRoutes: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a route table id (rtb-...)`);
    // A table listed twice would only double the calls.
    this.routeTableIds = [...new Set(ids)];
  }

  async ensure(hostId: string, cidr: string): Promise<void> {
    if (typeof hostId !== 'string' || !INSTANCE_ID.test(hostId)) {
      throw new ValidationError([{ path: 'hostId', message: `must be an EC2 instance id (i-...), got ${JSON.stringify(hostId)}` }]);
    }
    const destination = formatCidr(parseCidr(cidr));
    // First: a route to an instance that still drops forwarded packets would be a silent black hole.
    await this.call(
      'ModifyInstanceAttribute',
      `instance ${hostId}`,
      () => this.client.send(new ModifyInstanceAttributeCommand({ InstanceId: hostId, SourceDestCheck: { Value: false } })),
      hostId,
    );
    for (const table of this.routeTableIds) {
      const route = { RouteTableId: table, DestinationCidrBlock: destination, InstanceId: hostId };
      const label = `route ${destination} in ${table}`;
      try {
        await this.call('CreateRoute', label, () => this.client.send(new CreateRouteCommand(route)), hostId);
      } catch (err) {
        // The route is there already: to this host (a repeated call) or to another one (the subnet's
        // previous host, or a black hole once that instance terminated). Replacing makes it ours either way.
        if (!(err instanceof RouteExistsError)) throw err;
        await this.call('ReplaceRoute', label, () => this.client.send(new ReplaceRouteCommand(route)), hostId);
      }
    }
  }

  async remove(cidr: string): Promise<void> {
    const destination = formatCidr(parseCidr(cidr));
    for (const table of this.routeTableIds) {
      try {
        await this.call('DeleteRoute', `route ${destination} in ${table}`, () =>
          this.client.send(new DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: destination })),
        );
      } catch (err) {
        if (!(err instanceof RouteMissingError)) throw err;
      }
    }
  }

  async list(): Promise<{ tables: readonly string[]; routes: RouteEntry[] }> {
    const routes: RouteEntry[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.call('DescribeRouteTables', `route tables ${this.routeTableIds.join(', ')}`, () =>
        // The ids as a filter: a table deleted meanwhile is simply absent, not an error for the rest.
        this.client.send(
          new DescribeRouteTablesCommand({ Filters: [{ Name: 'route-table-id', Values: [...this.routeTableIds] }], NextToken: nextToken, MaxResults: 100 }),
        ),
      );
      for (const table of out.RouteTables ?? []) {
        for (const r of table.Routes ?? []) {
          if (!table.RouteTableId || !r.DestinationCidrBlock) continue;
          routes.push({
            table: table.RouteTableId,
            cidr: r.DestinationCidrBlock,
            ...(r.InstanceId ? { hostId: r.InstanceId } : {}),
            blackhole: r.State === 'blackhole',
          });
        }
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return { tables: this.routeTableIds, routes };
  }

  /** Run one EC2 call; turn its failure into a domain error naming the operation and the resource. */
  private async call<T>(op: string, label: string, send: () => Promise<T>, instanceId?: string): Promise<T> {
    try {
      return await send();
    } catch (err) {
      // Codes this adapter acts on; any other failure is classified by ec2Failure.
      switch (sdkErrorCode(err)) {
        case 'RouteAlreadyExists':
          throw new RouteExistsError(label, err);
        case 'InvalidRoute.NotFound':
          throw new RouteMissingError(label, err);
        case 'InvalidInstanceID.NotFound':
        case 'InvalidInstanceID.Malformed':
          // The instance terminated (or never was): its routes are for the teardown to remove.
          throw new NotFoundError(`instance ${instanceId ?? `of ${label}`}`, { cause: err });
        case 'InvalidRouteTableID.NotFound':
        case 'InvalidRouteTableID.Malformed':
          throw new SkiffError(`${op} on ${label} failed: the route table does not exist; check routeTableIds`, { cause: err });
        case 'RouteLimitExceeded':
          throw new LimitError(
            `${op} on ${label} failed: the route table is full (one route per host; the "Routes per route table" quota is 50 by default, ` +
              'adjustable to 1,000 in Service Quotas): raise the quota, or run fewer, larger hosts',
            { cause: err },
          );
      }
      throw ec2Failure(op, label, err);
    }
  }
}

// Internal outcomes that ensure/remove turn into actions; never escape this module.
class RouteExistsError extends SkiffError {
  constructor(label: string, cause: unknown) {
    super(`${label} exists already`, { cause });
    this.name = 'RouteExistsError';
  }
}

class RouteMissingError extends SkiffError {
  constructor(label: string, cause: unknown) {
    super(`${label} does not exist`, { cause });
    this.name = 'RouteMissingError';
  }
}
