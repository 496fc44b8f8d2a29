/**
 * Services on DynamoDB: one item per service (`SVC#<namespace>#<name>`, `#SERVICE`), its tasks
 * beside it in the same partition, all services listed through the index (`gsi1pk = SERVICES`).
 */
import { DeleteCommand, PutCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../../../core/errors.ts';
import { jsonEqual } from '../../../core/json.ts';
import type { JobStatus, RolloutState, Service, ServiceScale, ServiceSpec } from '../../../core/types.ts';
import { scaleAfterApply } from '../../../core/replicas.ts';
import type { ServiceStore, TaskStore } from '../../../ports/index.ts';
import { checkItemSize, toService, valid } from './items.ts';
import { GSI1, SERVICES, keyPart, serviceKey } from './keys.ts';
import { RACE_ATTEMPTS, type DynamoTable } from './table.ts';

export class DynamoServices implements ServiceStore {
  constructor(
    private readonly t: DynamoTable,
    /** removeService refuses while the service has tasks. */
    private readonly tasks: Pick<TaskStore, 'listTasks'>,
  ) {}

  async getService(namespace: string, name: string): Promise<Service | undefined> {
    const item = await this.t.get(serviceKey(namespace, name), `service ${namespace}/${name}`);
    return item && toService(this.t.bad, item);
  }

  async listServices(namespace?: string): Promise<Service[]> {
    // The index is eventually consistent: a service created a moment ago may be missing (see docs).
    const input: QueryCommandInput =
      namespace === undefined
        ? { TableName: this.t.table, IndexName: GSI1, KeyConditionExpression: 'gsi1pk = :p', ExpressionAttributeValues: { ':p': SERVICES } }
        : {
            TableName: this.t.table,
            IndexName: GSI1,
            KeyConditionExpression: 'gsi1pk = :p AND begins_with(gsi1sk, :ns)',
            ExpressionAttributeValues: { ':p': SERVICES, ':ns': `${keyPart('namespace', namespace)}#` },
          };
    const items = await this.t.queryAll(input, namespace === undefined ? 'services' : `services of namespace ${namespace}`);
    return valid(items.map((i) => toService(this.t.bad, i))).filter((s) => namespace === undefined || s.namespace === namespace);
  }

  async putService(spec: ServiceSpec, now: string, expectedVersion?: number): Promise<Service> {
    const { namespace, name } = spec.metadata;
    const label = `service ${namespace}/${name}`;
    // With no expected version the caller means "replace whatever is there": a lost race is retried.
    const attempts = expectedVersion === undefined ? RACE_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const current = await this.getService(namespace, name);
      if (current?.deleting) throw new ConflictError(`${label} is being deleted; wait and retry`);
      if (expectedVersion === 0 && current) throw new ConflictError(`${label} already exists (specVersion ${current.specVersion})`);
      if (expectedVersion !== undefined && expectedVersion > 0 && current?.specVersion !== expectedVersion) {
        throw new ConflictError(
          current
            ? `${label} is at specVersion ${current.specVersion}, not ${expectedVersion}`
            : `${label} does not exist (expected specVersion ${expectedVersion})`,
        );
      }
      // Re-applying the same spec is a no-op: a new specVersion would roll every task for nothing.
      if (current && jsonEqual(current.spec, spec)) return current;
      let service: Service = {
        namespace,
        name,
        spec,
        specVersion: (current?.specVersion ?? 0) + 1,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        deleting: false,
      };
      const scale = scaleAfterApply(current, spec);
      if (scale) service = { ...service, scale };
      // The rollout state and history outlive the spec: the next pass starts the new version's rollout from them.
      if (current?.rollout) service = { ...service, rollout: current.rollout };
      const item = { ...serviceKey(namespace, name), gsi1pk: SERVICES, gsi1sk: `${namespace}#${name}`, type: 'service', ...service };
      checkItemSize(label, item);
      try {
        await this.t.call(
          'PutItem',
          label,
          () =>
            this.t.doc.send(
              new PutCommand({
                TableName: this.t.table,
                Item: item,
                ...(current
                  ? {
                      ConditionExpression: '#specVersion = :v AND #deleting = :false',
                      ExpressionAttributeNames: { '#specVersion': 'specVersion', '#deleting': 'deleting' },
                      ExpressionAttributeValues: { ':v': current.specVersion, ':false': false },
                    }
                  : { ConditionExpression: 'attribute_not_exists(pk)' }),
              }),
            ),
          `${label} changed while it was being written (was specVersion ${current?.specVersion ?? 'absent'})`,
        );
        return service;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= attempts) throw err;
      }
    }
  }

  async setServiceScale(namespace: string, name: string, scale: ServiceScale, expectedSpecVersion: number): Promise<Service> {
    const label = `service ${namespace}/${name}`;
    const key = serviceKey(namespace, name);
    const out = await this.t.call(
      'UpdateItem',
      label,
      () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: key,
            UpdateExpression: 'SET #scale = :scale',
            ConditionExpression: 'attribute_exists(pk) AND #specVersion = :v AND #deleting = :false',
            ExpressionAttributeNames: { '#scale': 'scale', '#specVersion': 'specVersion', '#deleting': 'deleting' },
            ExpressionAttributeValues: { ':scale': scale, ':v': expectedSpecVersion, ':false': false },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `${label} is absent, deleting, or no longer at specVersion ${expectedSpecVersion}`,
    );
    const service = toService(this.t.bad, out.Attributes!);
    if (!service) throw new ConflictError(`${label} failed its item check after the scale was written`);
    return service;
  }

  async setServiceRollout(namespace: string, name: string, rollout: RolloutState, expectedSpecVersion: number): Promise<Service> {
    const label = `service ${namespace}/${name}`;
    const key = serviceKey(namespace, name);
    const out = await this.t.call(
      'UpdateItem',
      label,
      () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: key,
            UpdateExpression: 'SET #rollout = :rollout',
            ConditionExpression: 'attribute_exists(pk) AND #specVersion = :v AND #deleting = :false',
            ExpressionAttributeNames: { '#rollout': 'rollout', '#specVersion': 'specVersion', '#deleting': 'deleting' },
            ExpressionAttributeValues: { ':rollout': rollout, ':v': expectedSpecVersion, ':false': false },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `${label} is absent, deleting, or no longer at specVersion ${expectedSpecVersion}`,
    );
    const service = toService(this.t.bad, out.Attributes!);
    if (!service) throw new ConflictError(`${label} failed its item check after the rollout state was written`);
    return service;
  }

  async setJobStatus(namespace: string, name: string, status: JobStatus, expectedSpecVersion: number): Promise<Service> {
    const label = `job ${namespace}/${name}`;
    const key = serviceKey(namespace, name);
    const out = await this.t.call(
      'UpdateItem',
      label,
      () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: key,
            UpdateExpression: 'SET #job = :job',
            ConditionExpression: 'attribute_exists(pk) AND #specVersion = :v AND #deleting = :false',
            ExpressionAttributeNames: { '#job': 'job', '#specVersion': 'specVersion', '#deleting': 'deleting' },
            ExpressionAttributeValues: { ':job': status, ':v': expectedSpecVersion, ':false': false },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      `${label} is absent, deleting, or no longer at specVersion ${expectedSpecVersion}`,
    );
    const service = toService(this.t.bad, out.Attributes!);
    if (!service) throw new ConflictError(`${label} failed its item check after its status was written`);
    return service;
  }

  async markServiceDeleting(namespace: string, name: string, now: string): Promise<Service | undefined> {
    const label = `service ${namespace}/${name}`;
    // Keys are made outside the SDK call: a bad key part is the caller's ValidationError, not a failed call.
    const key = serviceKey(namespace, name);
    try {
      const out = await this.t.call('UpdateItem', label, () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: key,
            UpdateExpression: 'SET #deleting = :true, #updatedAt = :now',
            ConditionExpression: 'attribute_exists(pk) AND #deleting = :false',
            ExpressionAttributeNames: { '#deleting': 'deleting', '#updatedAt': 'updatedAt' },
            ExpressionAttributeValues: { ':true': true, ':false': false, ':now': now },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return toService(this.t.bad, out.Attributes!);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Absent, or already deleting: both are the answer, not an error (deleting twice is deleting).
      return this.getService(namespace, name);
    }
  }

  async removeService(namespace: string, name: string): Promise<void> {
    const label = `service ${namespace}/${name}`;
    // Read after the deleting mark, so a task created concurrently is seen here or undone by putTask.
    const tasks = await this.tasks.listTasks(namespace, name);
    if (tasks.length > 0) throw new ConflictError(`${label} still has ${tasks.length} task(s); stop and delete them first`);
    await this.t.call(
      'DeleteItem',
      label,
      () =>
        this.t.doc.send(
          new DeleteCommand({
            TableName: this.t.table,
            Key: serviceKey(namespace, name),
            ConditionExpression: 'attribute_not_exists(pk) OR #deleting = :true',
            ExpressionAttributeNames: { '#deleting': 'deleting' },
            ExpressionAttributeValues: { ':true': true },
          }),
        ),
      `${label} is not marked deleting; mark it first`,
    );
  }
}
