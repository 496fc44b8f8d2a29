import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateRouteCommand,
  DeleteRouteCommand,
  DescribeRouteTablesCommand,
  EC2Client,
  EC2ServiceException,
  ModifyInstanceAttributeCommand,
  ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { VpcRoutes } from '../../adapters/aws/vpc-routes.ts';
import { Ec2UnavailableError } from '../../adapters/aws/ec2-errors.ts';
import { LimitError, NotFoundError, SkiffError, ValidationError } from '../../core/errors.ts';

const TABLES = ['rtb-0aaaaaaaaaaaaaaa1', 'rtb-0bbbbbbbbbbbbbbb2'];
const HOST = 'i-0123456789abcdef0';
const CIDR = '10.200.7.0/24';

/** An EC2 error as the SDK raises it: EC2 has no modeled exceptions, its error code is the name. */
const ec2Error = (code: string) => new EC2ServiceException({ name: code, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: `${code} (test)` });

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());
afterAll(() => ec2.restore());

const routes = () => new VpcRoutes(ec2 as unknown as EC2Client, { routeTableIds: TABLES });
const inputs = (command: Parameters<typeof ec2.commandCalls>[0]) => ec2.commandCalls(command).map((c) => c.args[0].input);

describe('VpcRoutes (at the SDK boundary)', () => {
  it('turns off the source/destination check, then routes the subnet to the instance in every table', async () => {
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    ec2.on(CreateRouteCommand).resolves({ Return: true });
    await routes().ensure(HOST, CIDR);
    expect(inputs(ModifyInstanceAttributeCommand)).toEqual([{ InstanceId: HOST, SourceDestCheck: { Value: false } }]);
    expect(inputs(CreateRouteCommand)).toEqual(TABLES.map((t) => ({ RouteTableId: t, DestinationCidrBlock: CIDR, InstanceId: HOST })));
    expect(ec2.calls().map((c) => c.args[0].constructor.name)).toEqual(['ModifyInstanceAttributeCommand', 'CreateRouteCommand', 'CreateRouteCommand']);
    expect(ec2.commandCalls(ReplaceRouteCommand)).toHaveLength(0);
  });

  it('replaces a route of the subnet that exists already, so ensuring twice leaves one route to the host', async () => {
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    ec2.on(CreateRouteCommand, { RouteTableId: TABLES[0] }).resolves({ Return: true });
    ec2.on(CreateRouteCommand, { RouteTableId: TABLES[1] }).rejects(ec2Error('RouteAlreadyExists'));
    ec2.on(ReplaceRouteCommand).resolves({});
    await routes().ensure(HOST, CIDR);
    expect(inputs(ReplaceRouteCommand)).toEqual([{ RouteTableId: TABLES[1], DestinationCidrBlock: CIDR, InstanceId: HOST }]);

    ec2.on(CreateRouteCommand).rejects(ec2Error('RouteAlreadyExists'));
    await routes().ensure(HOST, CIDR);
    expect(inputs(ReplaceRouteCommand)).toEqual([TABLES[1], ...TABLES].map((t) => ({ RouteTableId: t, DestinationCidrBlock: CIDR, InstanceId: HOST })));
  });

  it('deletes the route from every table, taking a missing route as already removed', async () => {
    ec2.on(DeleteRouteCommand, { RouteTableId: TABLES[0] }).rejects(ec2Error('InvalidRoute.NotFound'));
    ec2.on(DeleteRouteCommand, { RouteTableId: TABLES[1] }).resolves({});
    await routes().remove(CIDR);
    expect(inputs(DeleteRouteCommand)).toEqual(TABLES.map((t) => ({ RouteTableId: t, DestinationCidrBlock: CIDR })));
  });

  it('adds no route when the source/destination check cannot be turned off', async () => {
    ec2.on(ModifyInstanceAttributeCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
    const err = await routes()
      .ensure(HOST, CIDR)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(`instance ${HOST} not found`);
    expect(ec2.commandCalls(CreateRouteCommand)).toHaveLength(0);
  });

  it.each([
    ['RouteLimitExceeded', LimitError, /route table is full .*quota is 50 by default, adjustable to 1,000/],
    ['InvalidRouteTableID.NotFound', SkiffError, /route table does not exist; check routeTableIds/],
    ['UnauthorizedOperation', SkiffError, /grant ec2:CreateRoute/],
    ['RequestLimitExceeded', Ec2UnavailableError, /EC2 throttled CreateRoute on route 10\.200\.7\.0\/24 in rtb-0aaaaaaaaaaaaaaa1; retry later/],
    ['InternalError', Ec2UnavailableError, /\(InternalError\); retry later/],
    ['SomethingElse', SkiffError, /EC2 CreateRoute on route 10\.200\.7\.0\/24 in rtb-0aaaaaaaaaaaaaaa1 failed \(SomethingElse\)/],
  ])('turns a CreateRoute %s into a %s naming the route', async (code, type, message) => {
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    ec2.on(CreateRouteCommand).rejects(ec2Error(code));
    const err = await routes()
      .ensure(HOST, CIDR)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(message);
    expect((err as SkiffError).retryable).toBe(type === Ec2UnavailableError);
    expect((err as Error).cause).toBeInstanceOf(EC2ServiceException);
  });

  it('reports a DeleteRoute failure other than a missing route', async () => {
    ec2.on(DeleteRouteCommand).rejects(ec2Error('RequestLimitExceeded'));
    await expect(routes().remove(CIDR)).rejects.toBeInstanceOf(Ec2UnavailableError);
  });

  it('lists the routes of its tables, by filter, following pages, with their instance and black holes', async () => {
    ec2
      .on(DescribeRouteTablesCommand)
      .resolvesOnce({
        RouteTables: [
          {
            RouteTableId: TABLES[0],
            Routes: [
              { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', State: 'active' },
              { DestinationCidrBlock: CIDR, InstanceId: HOST, State: 'active' },
            ],
          },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({ RouteTables: [{ RouteTableId: TABLES[1], Routes: [{ DestinationCidrBlock: CIDR, InstanceId: HOST, State: 'blackhole' }] }] });
    expect(await routes().list()).toEqual({
      tables: TABLES,
      routes: [
        { table: TABLES[0], cidr: '10.0.0.0/16', blackhole: false },
        { table: TABLES[0], cidr: CIDR, hostId: HOST, blackhole: false },
        { table: TABLES[1], cidr: CIDR, hostId: HOST, blackhole: true },
      ],
    });
    const calls = inputs(DescribeRouteTablesCommand);
    expect(calls.map((c) => c.Filters)).toEqual([[{ Name: 'route-table-id', Values: TABLES }], [{ Name: 'route-table-id', Values: TABLES }]]);
    expect(calls.map((c) => c.NextToken)).toEqual([undefined, 'page-2']);
  });

  it('refuses a host that is not an instance or a malformed CIDR before calling EC2', async () => {
    await expect(routes().ensure('host-1', CIDR)).rejects.toThrow(/must be an EC2 instance id/);
    await expect(routes().ensure(HOST, '10.200.7.1/24')).rejects.toBeInstanceOf(ValidationError);
    await expect(routes().remove('10.200.7.0')).rejects.toBeInstanceOf(ValidationError);
    expect(ec2.calls()).toHaveLength(0);
  });

  it('refuses options that name no route table, or something else', () => {
    expect(() => new VpcRoutes(ec2 as unknown as EC2Client, { routeTableIds: [] })).toThrow(/at least one route table/);
    expect(() => new VpcRoutes(ec2 as unknown as EC2Client, { routeTableIds: ['subnet-123'] })).toThrow(/"subnet-123" is not a route table id/);
    expect(() => new VpcRoutes(ec2 as unknown as EC2Client, { routeTableIds: TABLES, vpcId: 'vpc-1' } as never)).toThrow(/unknown option\(s\) vpcId/);
  });
});
