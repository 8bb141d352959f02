// Backstage's test utilities (createMockActionContext, mockServices) call the Jest global; in vitest, `vi` is its
// drop-in twin (vi.fn().mockImplementation, mockResolvedValue, …).
import { vi } from 'vitest';

(globalThis as unknown as { jest: typeof vi }).jest = vi;
