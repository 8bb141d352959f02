import { defineFaultSuite } from '../../faults/suite.js';

// The reduced fault suite inside `npm test` (FAULT_SCALE=small unless set): the same scenarios as
// `npm run test:faults`, smaller batches, and outages confined to this stack (no shared-server restarts).
defineFaultSuite(120_000);
