/** The API's answers the console reads (docs/api.md); the task, host and event shapes are core's own. */
import type { AutoscalingSpec, ServiceScale, TaskView } from '../../core/types.ts';

export type { ClusterEvent, HostView, TaskView } from '../../core/types.ts';

/** One item of `GET /v1/services` (app/api.ts serviceSummary). */
export interface ServiceSummary {
  readonly namespace: string;
  readonly name: string;
  readonly dns: string;
  readonly ingress: { readonly host: string; readonly port: number } | null;
  readonly replicas: number;
  readonly scale: ServiceScale | null;
  readonly autoscaling: AutoscalingSpec | null;
  readonly running: number;
  readonly tasks: number;
  readonly ready: boolean;
  readonly specVersion: number;
  readonly deleting?: string | boolean;
}

/** `GET .../rollout`. */
export interface RolloutStatus {
  readonly specVersion: number;
  readonly phase: 'progressing' | 'complete' | 'rolledBack' | 'failed';
  readonly message?: string;
  readonly replicas: number;
  readonly updated: number;
  readonly available: number;
  readonly old: number;
}

/** `GET /v1/namespaces/{ns}/services/{name}`: the summary, with its tasks and measured targets. */
export interface ServiceDetail extends Omit<ServiceSummary, 'tasks'> {
  readonly tasks: readonly TaskView[];
  readonly metrics?: readonly { metric: string; target: number; value?: number; proposal?: number; note?: string }[];
}

/** A log route's answer (docs/logs.md). */
export interface LogPage {
  readonly lines: readonly { at: number | string; stream: string; message: string; task?: string; container?: string }[];
  readonly cursor: string;
}
