/**
 * A local stand-in for EC2 Auto Scaling: the subset of its Query protocol that Skiff's host
 * autoscaler calls (DescribeAutoScalingGroups, SetDesiredCapacity,
 * TerminateInstanceInAutoScalingGroup, SetInstanceProtection), for one group whose instances are
 * local hosts: launching an instance starts a host's agent, terminating one stops it. The
 * production adapter (adapters/aws/auto-scaling-group.ts) runs against it unchanged.
 *
 * Like the real service it refuses a desired capacity outside min..max and a decrement below min
 * (ValidationError), launches and terminates in the background (instances are `Pending` until
 * their launch returns, `Terminating` until their stop returns), and on a lower desired capacity
 * terminates only instances that are not protected from scale-in.
 *
 * The group is not kept in a file: `skiff local up` rebuilds it from the hosts it starts or adopts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, checkStandInOptions, errorMessage, readBody, serveHttp, type StandInOptions } from './stand-in.ts';

const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
const MAX_BODY_BYTES = 64 * 1024;

export interface AutoScalingServerOptions extends Omit<StandInOptions, 'dataFile'> {
  readonly groupName: string;
  readonly min: number;
  readonly max: number;
  /** Instances in service at start (their hosts run already). */
  readonly instances?: readonly string[];
  /** The id of the next instance, given those the group holds now. */
  readonly nextId: (existing: ReadonlySet<string>) => string;
  /** Starts the machine of a new instance; a rejection removes the instance (the next change of desired capacity tries again). */
  readonly launch: (id: string) => Promise<void>;
  /** Stops an instance's machine for good. */
  readonly terminate: (id: string) => Promise<void>;
  readonly log?: (line: string) => void;
}

export interface AutoScalingServer {
  readonly endpoint: string;
  readonly port: number;
  /** The instances and their lifecycle states, for tests and logs. */
  instances(): { id: string; lifecycle: string; protectedFromScaleIn: boolean }[];
  /** Resolves once no launch or termination is under way. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

interface Instance {
  readonly id: string;
  lifecycle: 'Pending' | 'InService' | 'Terminating';
  protectedFromScaleIn: boolean;
}

const OPTION_KEYS = new Set(['host', 'port', 'groupName', 'min', 'max', 'instances', 'nextId', 'launch', 'terminate', 'log']);

export async function startAutoScalingServer(opts: AutoScalingServerOptions): Promise<AutoScalingServer> {
  const { host, port } = checkStandInOptions('startAutoScalingServer', opts, OPTION_KEYS);
  const { groupName, min, max } = opts;
  if (typeof groupName !== 'string' || !/^[\w.-]{1,255}$/.test(groupName))
    throw new TypeError('startAutoScalingServer: groupName must be 1-255 word characters');
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min)
    throw new TypeError(`startAutoScalingServer: min and max must be integers with 0 <= min <= max, got ${min} and ${max}`);
  const log = opts.log ?? (() => undefined);
  const instances: Instance[] = (opts.instances ?? []).map((id) => ({ id, lifecycle: 'InService', protectedFromScaleIn: false }));
  if (instances.length > max) throw new TypeError(`startAutoScalingServer: ${instances.length} instances exceed the max of ${max}`);
  let desired = Math.max(min, instances.length);
  const work = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    work.add(p);
    void p.finally(() => work.delete(p));
  };

  const live = () => instances.filter((i) => i.lifecycle !== 'Terminating');
  const terminate = (inst: Instance) => {
    inst.lifecycle = 'Terminating';
    log(`auto scaling: terminating ${inst.id}`);
    track(
      opts
        .terminate(inst.id)
        .catch((err) => log(`auto scaling: stopping ${inst.id} failed: ${errorMessage(err)}`))
        .finally(() => {
          const at = instances.indexOf(inst);
          if (at >= 0) instances.splice(at, 1);
        }),
    );
  };
  // Launch or terminate until the live instances match the desired capacity, as the group's own loop does.
  const converge = () => {
    while (live().length < desired) {
      const inst: Instance = { id: opts.nextId(new Set(instances.map((i) => i.id))), lifecycle: 'Pending', protectedFromScaleIn: false };
      instances.push(inst);
      log(`auto scaling: launching ${inst.id}`);
      track(
        opts.launch(inst.id).then(
          () => {
            if (inst.lifecycle === 'Pending') inst.lifecycle = 'InService';
          },
          (err) => {
            log(`auto scaling: launching ${inst.id} failed: ${errorMessage(err)}`);
            const at = instances.indexOf(inst);
            if (at >= 0) instances.splice(at, 1);
          },
        ),
      );
    }
    // Newest unprotected first; protected instances stay even above the desired capacity.
    for (const inst of live().reverse()) {
      if (live().length <= desired) break;
      if (!inst.protectedFromScaleIn) terminate(inst);
    }
  };

  const member = (id: unknown): Instance => {
    const inst = typeof id === 'string' ? instances.find((i) => i.id === id && i.lifecycle !== 'Terminating') : undefined;
    if (!inst) throw new ApiError('ValidationError', `The instance ID ${String(id)} is not part of Auto Scaling group ${groupName}.`);
    return inst;
  };

  const dispatch = (action: string, p: URLSearchParams): string => {
    switch (action) {
      case 'DescribeAutoScalingGroups': {
        const names = members(p, 'AutoScalingGroupNames');
        if (names.length > 0 && !names.includes(groupName)) return '<AutoScalingGroups/>';
        const list = instances
          .map(
            (i) =>
              `<member><InstanceId>${xml(i.id)}</InstanceId><AvailabilityZone>local</AvailabilityZone><LifecycleState>${i.lifecycle}</LifecycleState>` +
              `<HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>${i.protectedFromScaleIn}</ProtectedFromScaleIn></member>`,
          )
          .join('');
        return (
          `<AutoScalingGroups><member><AutoScalingGroupName>${xml(groupName)}</AutoScalingGroupName><MinSize>${min}</MinSize><MaxSize>${max}</MaxSize>` +
          `<DesiredCapacity>${desired}</DesiredCapacity><DefaultCooldown>300</DefaultCooldown><HealthCheckType>EC2</HealthCheckType>` +
          `<CreatedTime>2026-01-01T00:00:00Z</CreatedTime><AvailabilityZones><member>local</member></AvailabilityZones><Instances>${list}</Instances></member></AutoScalingGroups>`
        );
      }
      case 'SetDesiredCapacity': {
        checkGroup(p.get('AutoScalingGroupName'), groupName);
        const value = Number(p.get('DesiredCapacity'));
        if (!Number.isInteger(value) || value < min || value > max)
          throw new ApiError('ValidationError', `New SetDesiredCapacity value ${p.get('DesiredCapacity')} is outside of the group's bounds [${min}, ${max}].`);
        desired = value;
        converge();
        return '';
      }
      case 'TerminateInstanceInAutoScalingGroup': {
        const inst = member(p.get('InstanceId'));
        const decrement = p.get('ShouldDecrementDesiredCapacity') === 'true';
        if (decrement && desired - 1 < min)
          throw new ApiError(
            'ValidationError',
            `Currently, desiredSize equals minSize (${min}). Terminating instance without replacement will violate group's min size constraint.`,
          );
        if (decrement) desired--;
        terminate(inst);
        // Without the decrement the group launches a replacement.
        converge();
        return `<Activity><ActivityId>${randomUUID()}</ActivityId><AutoScalingGroupName>${xml(groupName)}</AutoScalingGroupName><Description>Terminating EC2 instance: ${xml(inst.id)}</Description><Cause>At ${new Date().toISOString()} instance ${xml(inst.id)} was taken out of service in response to a user request.</Cause><StartTime>${new Date().toISOString()}</StartTime><StatusCode>InProgress</StatusCode><Progress>0</Progress></Activity>`;
      }
      case 'SetInstanceProtection': {
        checkGroup(p.get('AutoScalingGroupName'), groupName);
        const ids = members(p, 'InstanceIds');
        if (ids.length === 0 || ids.length > 50) throw new ApiError('ValidationError', 'InstanceIds must hold 1 to 50 instance ids.');
        const flag = p.get('ProtectedFromScaleIn');
        if (flag !== 'true' && flag !== 'false') throw new ApiError('ValidationError', 'ProtectedFromScaleIn must be true or false.');
        const found = ids.map(member);
        for (const inst of found) inst.protectedFromScaleIn = flag === 'true';
        return '';
      }
    }
    throw new ApiError('InvalidAction', `The action ${action} is not valid for this web service (the local Auto Scaling stand-in).`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    try {
      const body = await readBody(req, MAX_BODY_BYTES, () => new ApiError('ValidationError', `request body exceeds ${MAX_BODY_BYTES} bytes`));
      if (req.method !== 'POST') throw new ApiError('InvalidAction', `${req.method} ${req.url} is not an AWS Query request`);
      const params = new URLSearchParams(body);
      const action = params.get('Action') ?? '';
      const result = dispatch(action, params);
      send(
        res,
        200,
        `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('InternalFailure', errorMessage(err), 500);
      send(
        res,
        e.status,
        `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${e.status < 500 ? 'Sender' : 'Receiver'}</Type><Code>${xml(e.code)}</Code><Message>${xml(e.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      );
    }
  };

  const settled = async () => {
    while (work.size > 0) await Promise.allSettled([...work]);
  };
  const http = await serveHttp((req, res) => void handle(req, res), host, port, settled);
  return {
    endpoint: http.endpoint,
    port: http.port,
    instances: () => instances.map((i) => ({ ...i })),
    settled,
    close: http.close,
  };
}

/** The values of a Query list parameter: `Name.member.1`, `Name.member.2`... */
function members(p: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; p.has(`${name}.member.${i}`); i++) out.push(p.get(`${name}.member.${i}`)!);
  return out;
}

function checkGroup(name: string | null, groupName: string): void {
  if (name !== groupName) throw new ApiError('ValidationError', `AutoScalingGroup name not found - ${name ?? '(none given)'}`);
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
