/** Builders and helpers shared by the Store contract and the DynamoDB store's own tests. */
import { expect } from 'vitest';
import { ConflictError } from '../../core/errors.ts';
import type { Allocation, HostStatus, ServiceSpec, Task } from '../../core/types.ts';

export const NOW = '2025-01-01T00:00:00.000Z';
export const LATER = '2025-01-01T00:05:00.000Z';

export function aSpec(namespace: string, name: string, over: { replicas?: number; image?: string; env?: Record<string, string> } = {}): ServiceSpec {
  return {
    kind: 'Service',
    metadata: { namespace, name, labels: { app: name } },
    spec: {
      replicas: over.replicas ?? 2,
      containers: [
        {
          name: 'main',
          image: over.image ?? 'skiff/busybox:latest',
          command: ['sh', '-c'],
          args: ['httpd -f'],
          env: over.env ?? { MODE: 'test', EMPTY: '' },
          ports: [{ containerPort: 80, name: 'http', protocol: 'tcp' }],
          resources: { cpu: 100, memory: 64 * 1024 * 1024 },
        },
      ],
      restartPolicy: 'always',
      placement: { strategy: 'spread', constraints: ['zone==a'] },
    },
  };
}

export function aTask(namespace: string, service: string, slot: number, over: Partial<Task> = {}): Task {
  return {
    id: `${service}-${slot}-${over.incarnation ?? 1}`,
    namespace,
    service,
    slot,
    incarnation: 1,
    specVersion: 1,
    pod: { containers: aSpec(namespace, service).spec.containers, restartPolicy: 'always' },
    desired: 'running',
    createdAt: NOW,
    ...over,
  };
}

export function anAllocation(task: Pick<Task, 'id' | 'namespace' | 'service' | 'slot'>): Allocation {
  return { taskId: task.id, namespace: task.namespace, service: task.service, slot: task.slot, resources: { cpu: 100, memory: 1024 }, hostPorts: [8080] };
}

export const hostInput = (id: string, i = 1) => ({ id, address: `127.0.1.${i}`, capacity: { cpu: 2000, memory: 4 * 2 ** 30 }, labels: { zone: 'a' } });

/** Run all at once; return how many succeeded and that every failure was a ConflictError. */
export async function race(attempts: readonly (() => Promise<unknown>)[]): Promise<{ won: number; conflicts: number }> {
  const results = await Promise.allSettled(attempts.map((a) => a()));
  const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
  for (const f of failures) expect(f).toBeInstanceOf(ConflictError);
  return { won: results.length - failures.length, conflicts: failures.length };
}

export function aStatus(hostId: string, over: Partial<HostStatus> = {}): HostStatus {
  return {
    hostId,
    heartbeatAt: NOW,
    generation: 3,
    agentVersion: '0.1.0',
    tasks: [
      {
        taskId: 't1',
        namespace: 'team',
        service: 'web',
        state: 'running',
        ports: [{ container: 'main', containerPort: 80, protocol: 'tcp', hostIp: '127.0.1.1', hostPort: 32768 }],
        containers: [{ name: 'main', id: 'abc', state: 'running' }],
        since: NOW,
      },
      { taskId: 't2', namespace: 'team', service: 'web', state: 'exited', exitCode: 1, message: 'boom', ports: [], containers: [], since: NOW },
    ],
    ...over,
  };
}
