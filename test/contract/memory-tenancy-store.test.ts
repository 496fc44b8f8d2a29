import { MemoryTenancyStore } from '../../adapters/memory/tenancy-store.ts';
import { describeTenancyStoreContract } from './tenancy-store.contract.ts';

describeTenancyStoreContract('MemoryTenancyStore', async () => new MemoryTenancyStore());
