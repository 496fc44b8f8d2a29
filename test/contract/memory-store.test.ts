import { MemoryStore } from '../../adapters/memory/store.ts';
import { describeStoreContract } from './store.contract.ts';
import { describeVolumeStoreContract } from './volume-store.contract.ts';

describeStoreContract('MemoryStore', async () => new MemoryStore());
describeVolumeStoreContract('MemoryStore', async () => new MemoryStore());
