/** Rules of `spec.update` across its fields, read from the raw input like the pod rules (core/spec/pod.ts). */
import type { FieldIssue } from '../errors.ts';
import { UPDATE_DEFAULTS } from './defaults.ts';
import { isRecord } from './messages.ts';

/** A budget that is zero whatever the replica count: `0` or `"0%"`. */
function isZero(value: unknown): boolean {
  return value === 0 || value === '0%';
}

/**
 * Both budgets zero leaves a rollout no room: no replica may be added and none taken out, so no
 * replica could ever be replaced (Kubernetes refuses the same).
 */
export function updateIssues(input: unknown): FieldIssue[] {
  if (!isRecord(input) || !isRecord(input.spec) || !isRecord(input.spec.update)) return [];
  const u = input.spec.update;
  const surge = u.maxSurge === undefined ? UPDATE_DEFAULTS.maxSurge : u.maxSurge;
  const unavailable = u.maxUnavailable === undefined ? UPDATE_DEFAULTS.maxUnavailable : u.maxUnavailable;
  if (!isZero(surge) || !isZero(unavailable)) return [];
  return [
    {
      path: 'spec.update',
      message:
        'maxSurge and maxUnavailable must not both be 0: a rollout could neither add a new replica nor take an old one out; set maxSurge: 1 (keeps full capacity) or maxUnavailable: 1 (no extra replica)',
    },
  ];
}
