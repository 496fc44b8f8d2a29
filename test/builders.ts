/** Small builders for core tests: `aHost({ cpu: 2000 })`. */
import { podOf } from '../core/reconciler.ts';
import type { Allocation, Host, Service, ServiceSpec, Task } from '../core/types.ts';

const MiB = 1024 * 1024;

export function aHost(over: Partial<Host> & { cpu?: number; memory?: number } = {}): Host {
  const { cpu, memory, ...rest } = over;
  return {
    id: 'host-1',
    address: '127.0.1.1',
    capacity: { cpu: cpu ?? 4000, memory: memory ?? 8192 * MiB },
    labels: {},
    state: 'ready',
    registeredAt: '2026-01-01T00:00:00.000Z',
    version: 1,
    allocations: {},
    ...rest,
  };
}

export function aSpec(
  over: {
    name?: string;
    namespace?: string;
    replicas?: number;
    cpu?: number;
    memory?: number;
    hostPort?: number;
    constraints?: string[];
    strategy?: 'spread' | 'binpack';
  } = {},
): ServiceSpec {
  return {
    kind: 'Service',
    metadata: { name: over.name ?? 'web', namespace: over.namespace ?? 'default', labels: {} },
    spec: {
      replicas: over.replicas ?? 3,
      restartPolicy: 'always',
      placement: { strategy: over.strategy ?? 'spread', constraints: over.constraints ?? [] },
      containers: [
        {
          name: 'app',
          image: 'skiff/busybox:latest',
          env: {},
          ports: [{ containerPort: 8080, protocol: 'tcp', ...(over.hostPort ? { hostPort: over.hostPort } : {}) }],
          resources: { cpu: over.cpu ?? 100, memory: over.memory ?? 32 * MiB },
        },
      ],
    },
  };
}

export function aService(over: Parameters<typeof aSpec>[0] & { specVersion?: number; deleting?: boolean } = {}): Service {
  const spec = aSpec(over);
  return {
    namespace: spec.metadata.namespace,
    name: spec.metadata.name,
    spec,
    specVersion: over.specVersion ?? 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    deleting: over.deleting ?? false,
  };
}

export function anAllocation(taskId: string, over: Partial<Allocation> = {}): Allocation {
  return { taskId, namespace: 'default', service: 'web', slot: 1, resources: { cpu: 100, memory: 32 * MiB }, hostPorts: [], ...over };
}

export function aTask(service: Service, slot: number, over: Partial<Task> = {}): Task {
  return {
    id: `${service.name}-${slot}-aaaaa`,
    namespace: service.namespace,
    service: service.name,
    slot,
    incarnation: 1,
    specVersion: service.specVersion,
    pod: podOf(service),
    desired: 'running',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

export { MiB };
