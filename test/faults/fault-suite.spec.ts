import { defineFaultSuite } from './suite.js';

// `npm run test:faults`: the full-size fault suite (FAULT_SCALE=full, real Postgres stop/start).
defineFaultSuite(900_000);
