import { MemoryNamespaceSlots } from '../../adapters/memory/namespace-slots.ts';
import { describeNamespaceSlotsContract } from './namespace-slots.contract.ts';

describeNamespaceSlotsContract('MemoryNamespaceSlots', async () => new MemoryNamespaceSlots());
