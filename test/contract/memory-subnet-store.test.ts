import { MemorySubnetStore } from '../../adapters/memory/subnet-store.ts';
import { describeSubnetAllocatorContract } from './subnet-store.contract.ts';

describeSubnetAllocatorContract('MemorySubnetStore', async (clusterCidr, hostPrefixLength) => new MemorySubnetStore({ clusterCidr, hostPrefixLength }));
