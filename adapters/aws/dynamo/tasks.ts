/**
 * Tasks on DynamoDB: one item per slot (`TASK#<six-digit slot>`) in its service's partition, so a
 * service's tasks are one strongly consistent Query in slot order. Every change is conditional on
 * the task id the slot holds.
 */
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, SkiffError } from '../../../core/errors.ts';
import type { Task } from '../../../core/types.ts';
import type { ServiceStore, TaskStore } from '../../../ports/index.ts';
import { checkItemSize, compare, fromTask, toTask, valid } from './items.ts';
import { TASK_SK_PREFIX, serviceKey, taskKey, taskLabel, type Item } from './keys.ts';
import type { DynamoTable } from './table.ts';

// Parallel Scan segments of listAllTasks: each reads 1 MB pages in turn; four hide most latency.
const SCAN_SEGMENTS = 4;

export class DynamoTasks implements TaskStore {
  constructor(
    private readonly t: DynamoTable,
    /** putTask undoes a task whose service is absent or deleting. */
    private readonly services: Pick<ServiceStore, 'getService'>,
  ) {}

  async listTasks(namespace: string, service: string): Promise<Task[]> {
    const items = await this.t.queryAll(
      {
        TableName: this.t.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :task)',
        ExpressionAttributeValues: { ':pk': serviceKey(namespace, service).pk, ':task': TASK_SK_PREFIX },
        ConsistentRead: true,
      },
      `tasks of service ${namespace}/${service}`,
    );
    return valid(items.map((i) => toTask(this.t.bad, i)));
  }

  async listAllTasks(): Promise<Task[]> {
    // A strongly consistent Scan, not the services index then a Query per service: the index lags
    // its writes, and a task missing from this list makes its allocation look stale (see
    // core/allocations.ts). The Scan also reads hosts and statuses, about a third more.
    const segments = await Promise.all(
      Array.from({ length: SCAN_SEGMENTS }, (_, segment) =>
        this.t.scanAll(
          {
            TableName: this.t.table,
            FilterExpression: 'begins_with(sk, :task)',
            ExpressionAttributeValues: { ':task': TASK_SK_PREFIX },
            ConsistentRead: true,
            Segment: segment,
            TotalSegments: SCAN_SEGMENTS,
          },
          'all tasks',
        ),
      ),
    );
    return segments
      .flat()
      .map((i) => toTask(this.t.bad, i))
      .filter((t): t is Task => t !== undefined)
      .sort((a, b) => compare(a.namespace, b.namespace) || compare(a.service, b.service) || a.slot - b.slot);
  }

  async putTask(task: Task, previousIncarnation: number | undefined): Promise<void> {
    const label = taskLabel(task.namespace, task.service, task.slot);
    if (previousIncarnation !== undefined && !(task.incarnation > previousIncarnation)) {
      // Equal incarnations would let two schedulers both "replace" the slot one after the other.
      throw new SkiffError(`${label}: new incarnation ${task.incarnation} must be greater than ${previousIncarnation}`);
    }
    const item: Item = { ...taskKey(task.namespace, task.service, task.slot), type: 'task', ...fromTask(task) };
    checkItemSize(`${label} (task ${task.id})`, item);
    await this.t.call(
      'PutItem',
      label,
      () =>
        this.t.doc.send(
          new PutCommand({
            TableName: this.t.table,
            Item: item,
            ...(previousIncarnation === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : {
                  ConditionExpression: '#incarnation = :prev',
                  ExpressionAttributeNames: { '#incarnation': 'incarnation' },
                  ExpressionAttributeValues: { ':prev': previousIncarnation },
                }),
          }),
        ),
      previousIncarnation === undefined ? `${label} already has a task` : `${label} is no longer at incarnation ${previousIncarnation}`,
    );
    if (previousIncarnation !== undefined) return;
    // No task may outlive its service: the reconciler works service by service and would never
    // see it. Write, then check the parent; removeService does the opposite (mark deleting, then
    // read tasks), so one of the two always sees the other.
    const parent = await this.services.getService(task.namespace, task.service);
    if (parent && !parent.deleting) return;
    await this.deleteTask(task.namespace, task.service, task.slot, task.id).catch((err: unknown) => {
      if (!(err instanceof ConflictError)) throw err;
    });
    throw new ConflictError(`service ${task.namespace}/${task.service} ${parent ? 'is being deleted' : 'does not exist'}; task ${task.id} not created`);
  }

  async assignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    // A placed task is no longer unplaceable; the stale note would mislead `skiff get`.
    await this.updateTask(
      namespace,
      service,
      slot,
      taskId,
      'SET #host = :host REMOVE #unplaceable',
      { '#host': 'host', '#unplaceable': 'unplaceable' },
      { ':host': hostId },
      {
        condition: 'attribute_not_exists(#host) AND #desired = :running',
        names: { '#desired': 'desired' },
        values: { ':running': 'running' },
        conflict: `is not an unassigned running task ${taskId} any more (replaced, assigned or stopped)`,
      },
    );
  }

  async unassignTask(namespace: string, service: string, slot: number, taskId: string, hostId: string): Promise<void> {
    await this.updateTask(
      namespace,
      service,
      slot,
      taskId,
      'REMOVE #host',
      { '#host': 'host' },
      { ':host': hostId },
      {
        condition: '#host = :host',
        conflict: `is not task ${taskId} assigned to host ${hostId} any more`,
      },
    );
  }

  async setTaskDesired(namespace: string, service: string, slot: number, taskId: string, desired: Task['desired']): Promise<void> {
    await this.updateTask(namespace, service, slot, taskId, 'SET #desired = :desired', { '#desired': 'desired' }, { ':desired': desired });
  }

  async setTaskUnplaceable(namespace: string, service: string, slot: number, taskId: string, unplaceable: Task['unplaceable'] | undefined): Promise<void> {
    if (unplaceable === undefined) {
      await this.updateTask(namespace, service, slot, taskId, 'REMOVE #unplaceable', { '#unplaceable': 'unplaceable' }, {});
    } else {
      await this.updateTask(namespace, service, slot, taskId, 'SET #unplaceable = :u', { '#unplaceable': 'unplaceable' }, { ':u': unplaceable });
    }
  }

  async releasePrevious(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    await this.updateTask(namespace, service, slot, taskId, 'REMOVE #previous', { '#previous': 'previous' }, {});
  }

  async deleteTask(namespace: string, service: string, slot: number, taskId: string): Promise<void> {
    const label = taskLabel(namespace, service, slot);
    const key = taskKey(namespace, service, slot);
    await this.t.call(
      'DeleteItem',
      label,
      () =>
        this.t.doc.send(
          new DeleteCommand({
            TableName: this.t.table,
            Key: key,
            ConditionExpression: '#id = :id',
            ExpressionAttributeNames: { '#id': 'id' },
            ExpressionAttributeValues: { ':id': taskId },
          }),
        ),
      `${label} does not hold task ${taskId} any more`,
    );
  }

  private async updateTask(
    namespace: string,
    service: string,
    slot: number,
    taskId: string,
    update: string,
    names: Record<string, string>,
    values: Record<string, unknown>,
    /** A condition on top of "the slot still holds this task", and the conflict message that goes with it. */
    extra?: { condition: string; names?: Record<string, string>; values?: Record<string, unknown>; conflict: string },
  ): Promise<void> {
    const label = taskLabel(namespace, service, slot);
    const key = taskKey(namespace, service, slot);
    await this.t.call(
      'UpdateItem',
      label,
      () =>
        this.t.doc.send(
          new UpdateCommand({
            TableName: this.t.table,
            Key: key,
            UpdateExpression: update,
            ConditionExpression: extra ? `#id = :id AND ${extra.condition}` : '#id = :id',
            ExpressionAttributeNames: { ...names, ...extra?.names, '#id': 'id' },
            ExpressionAttributeValues: { ...values, ...extra?.values, ':id': taskId },
          }),
        ),
      `${label} ${extra?.conflict ?? `does not hold task ${taskId} any more`}`,
    );
  }
}
