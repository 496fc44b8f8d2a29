import { MemoryHostGroup } from '../../adapters/memory/host-group.ts';
import { describeHostGroupContract } from './host-group.contract.ts';

describeHostGroupContract('MemoryHostGroup', async (min, max, instances) => ({
  group: new MemoryHostGroup({ min, max, instances }),
  settle: async () => undefined,
}));
