/**
 * The environment variables of the host autoscaler function (set by infra/host-autoscaling.ts, read
 * by app/handlers/host-autoscaler.ts). Kept beside app/env-names.ts, in the same form (plain
 * strings, no imports), so the CDK app and the function bundle share them; the names are a public
 * contract (docs/aws.md).
 */
export const HOST_AUTOSCALER_ENV = {
  /** The hosts' Auto Scaling group. */
  group: 'SKIFF_HOST_GROUP',
  /** A host using less than this share (0-1) of its CPU and memory may be removed. Default 0.5. */
  scaleInUtilization: 'SKIFF_HOST_SCALE_IN_UTILIZATION',
  /** Seconds a host must stay unneeded before it is drained. Default 600. */
  scaleInUnneededSeconds: 'SKIFF_HOST_SCALE_IN_UNNEEDED_SECONDS',
  /** The shape of a new host when none of the group is registered to copy: CPU in millicores and memory in MiB. */
  templateCpu: 'SKIFF_HOST_TEMPLATE_CPU',
  templateMemoryMiB: 'SKIFF_HOST_TEMPLATE_MEMORY_MIB',
} as const;
