import type { PassContext } from './context.ts';

/** One named step of a pass. A new phase of the pass (autoscaling, rollouts) is a new step. */
export interface PassStep {
  readonly name: string;
  run(ctx: PassContext): Promise<void>;
}
