import { MemoryStore } from '../../adapters/memory/store.ts';
import { describeStoreContract } from './store.contract.ts';

describeStoreContract('MemoryStore', async () => new MemoryStore());
