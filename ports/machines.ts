/**
 * What the control plane knows of the machine behind a host id, independently of what the host's
 * agent claims: it bounds the claim when the host is registered (app/scheduler/steps/register-hosts.ts).
 */
import type { MachineVerdict } from '../core/host-registration.ts';
import type { HostClaim } from '../core/types.ts';

export interface MachineCatalog {
  /**
   * The machine behind `hostId`: the most capacity it has and its address, as far as the catalog
   * can tell (EC2 on AWS, the local cluster's configured host size locally); `known: false` with a
   * reason when no such machine may be a host. Throws only for a failure worth retrying (EC2
   * throttled or unreachable): the host is tried again next pass.
   */
  describe(hostId: string, claim: HostClaim): Promise<MachineVerdict>;
}
