/**
 * The machine catalog of a local cluster: every local host is a process on this machine, sized by
 * the cluster's configured host size (`--host-cpu`, `--host-memory`), publishing ports on loopback.
 * So a local agent's claim is capped at that size, and an address off 127.0.0.0/8 is refused.
 */
import type { MachineVerdict } from '../core/host-registration.ts';
import type { HostClaim, Resources } from '../core/types.ts';
import type { MachineCatalog } from '../ports/machines.ts';

const LOOPBACK = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export class LocalMachines implements MachineCatalog {
  constructor(private readonly hostSize: Resources) {}

  async describe(_hostId: string, claim: HostClaim): Promise<MachineVerdict> {
    const m = LOOPBACK.exec(claim.address);
    if (!m || m.slice(1).some((n) => Number(n) > 255)) {
      return { known: false, reason: `claims address ${JSON.stringify(claim.address)}; a local host publishes on 127.0.0.0/8` };
    }
    return { known: true, facts: { maxCapacity: this.hostSize, source: 'the local host size' } };
  }
}
