/**
 * The one SDK error classifier, over real SDK exception classes and Node network errors; then every
 * AWS adapter at the SDK boundary (aws-sdk-client-mock), showing a reset connection comes out as a
 * retryable error from each.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError as DynamoInternalServerError,
  ItemCollectionSizeLimitExceededException,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException as DynamoResourceNotFoundException,
  ThrottlingException as DynamoThrottlingException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  AccessDeniedException as SsmAccessDeniedException,
  GetParameterCommand,
  InternalServerError as SsmInternalServerError,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
  ThrottlingException as SsmThrottlingException,
} from '@aws-sdk/client-ssm';
import {
  ChangeResourceRecordSetsCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  NoSuchHostedZone,
  PriorRequestNotComplete,
  Route53Client,
} from '@aws-sdk/client-route-53';
import {
  InvokeCommand,
  LambdaClient,
  ResourceConflictException,
  ResourceNotFoundException as LambdaResourceNotFoundException,
  ServiceException as LambdaServiceException,
  TooManyRequestsException as LambdaTooManyRequestsException,
} from '@aws-sdk/client-lambda';
import {
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  PriorityInUseException,
  TargetGroupNotFoundException,
  TooManyRulesException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateRouteCommand, DescribeInstancesCommand, EC2Client, EC2ServiceException, ModifyInstanceAttributeCommand } from '@aws-sdk/client-ec2';
import {
  classifySdkError,
  isAccessDenied,
  isRetryableSdkError,
  sdkDomainError,
  sdkErrorCode,
  type SdkErrorClass,
  type ServiceErrors,
} from '../../adapters/aws/sdk-errors.ts';
import { DYNAMODB_ERRORS, StoreUnavailableError } from '../../adapters/aws/dynamo-calls.ts';
import { DynamoStore } from '../../adapters/aws/dynamo-store.ts';
import { DynamoSubnetStore } from '../../adapters/aws/subnet-store.ts';
import { HostChannelError, SSM_ERRORS, SsmHostChannel } from '../../adapters/aws/ssm-channel.ts';
import { DnsZoneError, ROUTE53_ERRORS, Route53Zone } from '../../adapters/aws/route53-zone.ts';
import { AlbLoadBalancer, ELBV2_ERRORS, LoadBalancerError } from '../../adapters/aws/alb.ts';
import { EC2_ERRORS, Ec2UnavailableError } from '../../adapters/aws/ec2-errors.ts';
import { VpcRoutes } from '../../adapters/aws/vpc-routes.ts';
import { Ec2Machines } from '../../adapters/aws/ec2-machines.ts';
import { RunCommandWaker } from '../../adapters/aws/run-command-waker.ts';
import { LAMBDA_ERRORS, LambdaSchedulerTrigger } from '../../adapters/aws/lambda-trigger.ts';
import { ConflictError, NotFoundError, SkiffError, UnavailableError } from '../../core/errors.ts';

/** Metadata as the SDK sets it on a deserialized error response. */
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode, requestId: 'r-1', attempts: 3 } });
/** A Node socket error as the HTTP handler rejects with it. */
const netError = (code: string, message = `connect ${code} 127.0.0.1:443`) => Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' });
/** An EC2 error: EC2 has no modeled exceptions; its code is the exception's name. */
const ec2Error = (code: string, status = 400) =>
  new EC2ServiceException({ name: code, $fault: status >= 500 ? 'server' : 'client', message: `${code} (test)`, ...meta(status) });

/** What the SDK's own handler raises when a socket times out (node-http-handler sets the name). */
const sdkTimeout = () => Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
/** Node 20's multi-address connect: every address refused, the code of the first on the aggregate. */
const aggregateRefused = () => Object.assign(new AggregateError([netError('ECONNREFUSED'), netError('ECONNREFUSED')], ''), { code: 'ECONNREFUSED' });

const ROWS: [string, unknown, ServiceErrors | undefined, SdkErrorClass][] = [
  // Network: the request got no answer, whichever service it was for.
  ['a reset connection (ECONNRESET)', netError('ECONNRESET', 'read ECONNRESET'), undefined, 'temporary'],
  ['a socket hang up', netError('ECONNRESET', 'socket hang up'), undefined, 'temporary'],
  ['a refused connection (ECONNREFUSED)', netError('ECONNREFUSED'), undefined, 'temporary'],
  ['a connect timeout (ETIMEDOUT)', netError('ETIMEDOUT'), undefined, 'temporary'],
  ['a broken pipe (EPIPE)', netError('EPIPE', 'write EPIPE'), undefined, 'temporary'],
  ['a DNS lookup that failed for now (EAI_AGAIN)', netError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN ssm.eu-west-1.amazonaws.com'), undefined, 'temporary'],
  ['the SDK handler timing out (TimeoutError)', sdkTimeout(), undefined, 'temporary'],
  ['every address refusing (AggregateError)', aggregateRefused(), undefined, 'temporary'],
  ['a reset wrapped as the cause of another error', new Error('fetch failed', { cause: netError('ECONNRESET') }), undefined, 'temporary'],
  ['a reset for DynamoDB', netError('ECONNRESET'), DYNAMODB_ERRORS, 'temporary'],
  ['a reset for EC2', netError('ECONNRESET'), EC2_ERRORS, 'temporary'],
  ['a reset for Parameter Store', netError('ECONNRESET'), SSM_ERRORS, 'temporary'],
  ['a reset for Route 53', netError('ECONNRESET'), ROUTE53_ERRORS, 'temporary'],
  ['a reset for ELBv2', netError('ECONNRESET'), ELBV2_ERRORS, 'temporary'],
  ['a reset for Lambda', netError('ECONNRESET'), LAMBDA_ERRORS, 'temporary'],
  // Throttling, by name, by the modeled retryable trait, or by status.
  [
    'DynamoDB ProvisionedThroughputExceededException',
    new ProvisionedThroughputExceededException({ message: 'over', ...meta(400) }),
    DYNAMODB_ERRORS,
    'throttled',
  ],
  ['DynamoDB RequestLimitExceeded', new RequestLimitExceeded({ message: 'over', ...meta(400) }), DYNAMODB_ERRORS, 'throttled'],
  ['DynamoDB ThrottlingException', new DynamoThrottlingException({ message: 'slow down', ...meta(400) }), DYNAMODB_ERRORS, 'throttled'],
  ['SSM ThrottlingException', new SsmThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', ...meta(400) }), SSM_ERRORS, 'throttled'],
  ['Lambda TooManyRequestsException', new LambdaTooManyRequestsException({ message: 'Rate exceeded', ...meta(429) }), LAMBDA_ERRORS, 'throttled'],
  ['EC2 RequestLimitExceeded', ec2Error('RequestLimitExceeded', 503), EC2_ERRORS, 'throttled'],
  ['ELBv2 Throttling (an unmodeled name)', Object.assign(new Error('Rate exceeded'), { name: 'Throttling', ...meta(400) }), ELBV2_ERRORS, 'throttled'],
  [
    'an unknown error marked throttling by the SDK',
    Object.assign(new Error('x'), { name: 'SomethingNew', $retryable: { throttling: true } }),
    undefined,
    'throttled',
  ],
  ['an unknown 429', Object.assign(new Error('x'), { name: 'SomethingNew', ...meta(429) }), undefined, 'throttled'],
  // Temporary: the service failed on its side.
  ['DynamoDB InternalServerError', new DynamoInternalServerError({ message: 'boom', ...meta(500) }), DYNAMODB_ERRORS, 'temporary'],
  ['SSM InternalServerError', new SsmInternalServerError({ message: 'boom', Message: 'boom', ...meta(500) }), SSM_ERRORS, 'temporary'],
  ['Lambda ServiceException', new LambdaServiceException({ message: 'boom', ...meta(500) }), LAMBDA_ERRORS, 'temporary'],
  ['EC2 InternalError', ec2Error('InternalError', 500), EC2_ERRORS, 'temporary'],
  ['EC2 Unavailable', ec2Error('Unavailable', 503), EC2_ERRORS, 'temporary'],
  ['an unknown server fault', Object.assign(new Error('x'), { name: 'SomethingNew', $fault: 'server', ...meta(502) }), undefined, 'temporary'],
  ['Route 53 PriorRequestNotComplete (the zone is busy)', new PriorRequestNotComplete({ message: 'busy', ...meta(400) }), ROUTE53_ERRORS, 'temporary'],
  [
    'Lambda ResourceConflictException (the function is being updated)',
    new ResourceConflictException({ message: 'updating', ...meta(409) }),
    LAMBDA_ERRORS,
    'temporary',
  ],
  // Not found.
  ['SSM ParameterNotFound', new ParameterNotFound({ message: 'no such parameter', ...meta(400) }), SSM_ERRORS, 'not-found'],
  ['Route 53 NoSuchHostedZone', new NoSuchHostedZone({ message: 'no zone', ...meta(404) }), ROUTE53_ERRORS, 'not-found'],
  ['DynamoDB ResourceNotFoundException (no table)', new DynamoResourceNotFoundException({ message: 'no table', ...meta(400) }), DYNAMODB_ERRORS, 'not-found'],
  ['Lambda ResourceNotFoundException (no function)', new LambdaResourceNotFoundException({ message: 'no function', ...meta(404) }), LAMBDA_ERRORS, 'not-found'],
  ['EC2 InvalidInstanceID.NotFound', ec2Error('InvalidInstanceID.NotFound'), EC2_ERRORS, 'not-found'],
  // Conflict.
  ['DynamoDB ConditionalCheckFailedException', new ConditionalCheckFailedException({ message: 'condition failed', ...meta(400) }), DYNAMODB_ERRORS, 'conflict'],
  ['DynamoDB TransactionConflictException', new TransactionConflictException({ message: 'conflict', ...meta(400) }), DYNAMODB_ERRORS, 'conflict'],
  ['SSM ParameterAlreadyExists', new ParameterAlreadyExists({ message: 'exists', ...meta(400) }), SSM_ERRORS, 'conflict'],
  ['ELBv2 PriorityInUseException', new PriorityInUseException({ message: 'in use', ...meta(400) }), ELBV2_ERRORS, 'conflict'],
  [
    'ELBv2 TargetGroupNotFoundException (deleted by a concurrent sync)',
    new TargetGroupNotFoundException({ message: 'gone', ...meta(400) }),
    ELBV2_ERRORS,
    'conflict',
  ],
  ['EC2 RouteAlreadyExists', ec2Error('RouteAlreadyExists'), EC2_ERRORS, 'conflict'],
  // Fatal: retrying the same request will not help.
  ['SSM AccessDeniedException', new SsmAccessDeniedException({ message: 'denied', Message: 'denied', ...meta(400) }), SSM_ERRORS, 'fatal'],
  ['Route 53 InvalidChangeBatch', new InvalidChangeBatch({ message: 'bad batch', ...meta(400) }), ROUTE53_ERRORS, 'fatal'],
  ['ELBv2 TooManyRulesException', new TooManyRulesException({ message: 'quota', ...meta(400) }), ELBV2_ERRORS, 'fatal'],
  [
    'DynamoDB ItemCollectionSizeLimitExceededException',
    new ItemCollectionSizeLimitExceededException({ message: 'full', ...meta(400) }),
    DYNAMODB_ERRORS,
    'fatal',
  ],
  ['EC2 UnauthorizedOperation', ec2Error('UnauthorizedOperation'), EC2_ERRORS, 'fatal'],
  [
    'a 404 of no known error (a wrong endpoint, not a missing resource)',
    Object.assign(new Error('Not Found'), { name: 'UnknownError', $fault: 'client', ...meta(404) }),
    undefined,
    'fatal',
  ],
  ['a request aborted by the caller', Object.assign(new Error('aborted'), { name: 'AbortError' }), undefined, 'fatal'],
  ['a TypeError from our own code', new TypeError('x is not a function'), undefined, 'fatal'],
  ['a thrown string', 'boom', undefined, 'fatal'],
  ['undefined', undefined, undefined, 'fatal'],
];

describe('classifySdkError', () => {
  it.each(ROWS)('classifies %s', (_, err, service, expected) => {
    expect(classifySdkError(err, service)).toBe(expected);
    expect(isRetryableSdkError(err, service)).toBe(expected === 'throttled' || expected === 'temporary');
  });

  it('agrees with the SDK retry strategy on which errors a retry may help, wherever no service table overrides it', () => {
    for (const [label, err, service, expected] of ROWS) {
      if (typeof err !== 'object' || err === null || service?.has((err as Error).name)) continue;
      const e = err as Parameters<typeof isTransientError>[0];
      const sdkSays = isThrottlingError(e) || isTransientError(e) || isServerError(e);
      expect({ label, retryable: sdkSays }).toEqual({ label, retryable: expected === 'throttled' || expected === 'temporary' });
    }
  });

  it('tells access refused by IAM or credentials apart from other fatal errors', () => {
    expect(isAccessDenied(new SsmAccessDeniedException({ message: 'denied', Message: 'denied', ...meta(400) }))).toBe(true);
    expect(isAccessDenied(ec2Error('UnauthorizedOperation'))).toBe(true);
    expect(isAccessDenied(new InvalidChangeBatch({ message: 'bad batch', ...meta(400) }))).toBe(false);
    expect(isAccessDenied(netError('ECONNRESET'))).toBe(false);
  });

  it('names an error by its SDK code, or by its Node code when it has no name of its own', () => {
    expect(sdkErrorCode(new ParameterNotFound({ message: 'x', ...meta(400) }))).toBe('ParameterNotFound');
    expect(sdkErrorCode(netError('ECONNRESET'))).toBe('ECONNRESET');
    expect(sdkErrorCode(sdkTimeout())).toBe('TimeoutError');
    expect(sdkErrorCode(aggregateRefused())).toBe('ECONNREFUSED');
    expect(sdkErrorCode('boom')).toBe('Error');
  });
});

describe('sdkDomainError', () => {
  it.each<[string, unknown, new (...args: never[]) => SkiffError, boolean, RegExp]>([
    [
      'throttling',
      new LambdaTooManyRequestsException({ message: 'Rate exceeded', ...meta(429) }),
      UnavailableError,
      true,
      /^Lambda throttled Invoke on function f; retry later$/,
    ],
    ['a reset connection', netError('ECONNRESET'), UnavailableError, true, /^Lambda failed Invoke on function f \(ECONNRESET\); retry later$/],
    ['a missing function', new LambdaResourceNotFoundException({ message: 'no function', ...meta(404) }), NotFoundError, false, /^function f not found$/],
    ['a conflict', Object.assign(new Error('x'), { name: 'ConflictException', ...meta(409) }), ConflictError, true, /^function f changed concurrently/],
    [
      'a bad request',
      Object.assign(new Error('bad payload'), { name: 'InvalidRequestContentException', ...meta(400) }),
      SkiffError,
      false,
      /^Lambda Invoke on function f failed \(InvalidRequestContentException\): bad payload$/,
    ],
  ])('maps %s to a domain error with the SDK error as its cause', (_, err, type, retryable, message) => {
    const domain = sdkDomainError('Lambda', 'Invoke', 'function f', err, LAMBDA_ERRORS);
    expect(domain).toBeInstanceOf(type);
    expect(domain.retryable).toBe(retryable);
    expect(domain.message).toMatch(message);
    expect(domain.cause).toBe(err);
  });

  it('passes a domain error through unchanged', () => {
    const err = new ConflictError('already ours');
    expect(sdkDomainError('Lambda', 'Invoke', 'function f', err)).toBe(err);
  });
});

describe('a reset connection at the SDK boundary of every AWS adapter', () => {
  const reset = () => netError('ECONNRESET', 'read ECONNRESET');
  const mocks: { restore(): void }[] = [];
  const mock = <T extends Parameters<typeof mockClient>[0]>(client: T) => {
    const m = mockClient(client);
    mocks.push(m);
    return m;
  };
  afterEach(() => {
    for (const m of mocks.splice(0)) m.restore();
  });
  const noSleep = async () => {};

  it('DynamoStore: a retryable StoreUnavailableError', async () => {
    const doc = mock(DynamoDBDocumentClient);
    doc.on(GetCommand).rejects(reset());
    const store = new DynamoStore(new DynamoDBClient({ region: 'eu-west-1' }), { tableName: 'skiff' });
    const err = await store.getService('default', 'web').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ retryable: true, status: 503 });
    expect((err as Error).message).toMatch(/\(ECONNRESET\); retry later$/);
    expect((err as Error).cause).toMatchObject({ code: 'ECONNRESET' });
  });

  it('DynamoSubnetStore: a retryable StoreUnavailableError', async () => {
    const doc = mock(DynamoDBDocumentClient);
    doc.on(GetCommand).rejects(reset());
    doc.on(PutCommand).rejects(reset());
    const subnets = new DynamoSubnetStore(new DynamoDBClient({ region: 'eu-west-1' }), { tableName: 'skiff', clusterCidr: '10.200.0.0/16' });
    const err = await subnets.acquire('i-0123456789abcdef0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ retryable: true });
  });

  it('SsmHostChannel: publish retries through a reset; a read that keeps failing is a retryable HostChannelError', async () => {
    const ssm = mock(SSMClient);
    ssm
      .on(GetParameterCommand)
      .rejectsOnce(reset())
      .rejects(new ParameterNotFound({ message: 'none', ...meta(400) }));
    ssm.on(PutParameterCommand).rejectsOnce(reset()).resolves({ Version: 1 });
    const channel = new SsmHostChannel(ssm as unknown as SSMClient, { prefix: '/skiff/test', sleep: noSleep });
    await channel.publish({ hostId: 'h1', generation: 1, tasks: [] } as never);
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
    expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(2);

    ssm.reset();
    ssm.on(GetParameterCommand).rejects(reset());
    const err = await channel.fetch('h1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostChannelError);
    expect(err).toMatchObject({ reason: 'unavailable', retryable: true, status: 503 });
  });

  it('Route53Zone: a reset is retried with backoff, and one that persists is a retryable DnsZoneError', async () => {
    const r53 = mock(Route53Client);
    r53.on(ListResourceRecordSetsCommand).rejectsOnce(reset()).resolves({ ResourceRecordSets: [], IsTruncated: false });
    r53.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: 'c1', Status: 'PENDING', SubmittedAt: new Date(0) } });
    const zone = new Route53Zone(r53 as unknown as Route53Client, {
      hostedZoneId: 'Z0123456789ABC',
      zone: 'skiff.internal',
      minIntervalMs: 0,
      sleep: noSleep,
      random: () => 0,
    });
    expect(await zone.sync([{ name: 'web.default.skiff.internal', type: 'A', ttl: 10, values: ['10.0.0.1'] }])).toEqual({ changed: 1, failed: [] });
    expect(r53.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(2);

    r53.reset();
    r53.on(ListResourceRecordSetsCommand).rejects(reset());
    const fresh = new Route53Zone(r53 as unknown as Route53Client, {
      hostedZoneId: 'Z0123456789ABC',
      zone: 'skiff.internal',
      minIntervalMs: 0,
      maxAttempts: 3,
      sleep: noSleep,
      random: () => 0,
    });
    const err = await fresh.sync([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DnsZoneError);
    expect(err).toMatchObject({ reason: 'unavailable', retryable: true });
    expect(r53.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(3);
  });

  it('AlbLoadBalancer: a retryable LoadBalancerError', async () => {
    const elb = mock(ElasticLoadBalancingV2Client);
    elb.on(DescribeTargetGroupsCommand).rejects(reset());
    const lb = new AlbLoadBalancer(elb as unknown as ElasticLoadBalancingV2Client, {
      namePrefix: 'skiff',
      listenerArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/skiff/50dc6c495c0c9188/f2f7dc8efc522ab2',
      vpcId: 'vpc-0123456789abcdef0',
      resolveInstance: () => undefined,
    });
    const err = await lb.sync([]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoadBalancerError);
    expect(err).toMatchObject({ reason: 'unavailable', retryable: true, status: 503 });
  });

  it('VpcRoutes: a retryable Ec2UnavailableError', async () => {
    const ec2 = mock(EC2Client);
    ec2.on(ModifyInstanceAttributeCommand).resolves({});
    ec2.on(CreateRouteCommand).rejects(reset());
    const routes = new VpcRoutes(ec2 as unknown as EC2Client, { routeTableIds: ['rtb-0aaaaaaaaaaaaaaa1'] });
    const err = await routes.ensure('i-0123456789abcdef0', '10.200.7.0/24').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Ec2UnavailableError);
    expect(err).toMatchObject({ retryable: true, status: 503 });
    expect((err as Error).message).toBe('EC2 failed CreateRoute on route 10.200.7.0/24 in rtb-0aaaaaaaaaaaaaaa1 (ECONNRESET); retry later');
  });

  it('Ec2Machines: a retryable Ec2UnavailableError', async () => {
    const ec2 = mock(EC2Client);
    ec2.on(DescribeInstancesCommand).rejects(reset());
    const err = await new Ec2Machines(ec2 as unknown as EC2Client).gone(['i-00000001']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Ec2UnavailableError);
    expect(err).toMatchObject({ retryable: true });
  });

  it('RunCommandWaker: the wake-up is sent again after a reset', async () => {
    const ssm = mock(SSMClient);
    ssm.on(SendCommandCommand).rejectsOnce(reset()).resolves({});
    const pauses: number[] = [];
    await new RunCommandWaker(ssm as unknown as SSMClient, { documentName: 'skiff-wake', sleep: async (ms) => void pauses.push(ms) }).wake([
      'i-0123456789abcdef0',
    ]);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(2);
    expect(pauses).toEqual([400]);
  });

  it('LambdaSchedulerTrigger: a retryable UnavailableError', async () => {
    const lambda = mock(LambdaClient);
    lambda.on(InvokeCommand).rejects(reset());
    const err = await new LambdaSchedulerTrigger(lambda as unknown as LambdaClient, 'skiff-scheduler').kick().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ retryable: true, status: 503, message: 'Lambda failed Invoke on function skiff-scheduler (ECONNRESET); retry later' });
  });
});
