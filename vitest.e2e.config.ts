import { defineConfig } from 'vitest/config';

// The end-to-end trial against a live stunnel + logrotate + SIGKILLed sidecar (npm run test:e2e).
// Not in `npm test` yet: it fails about one run in four on a known bug (see README, Known issues).
export default defineConfig({ test: { include: ['test/e2e/*.e2e.ts'], testTimeout: 120_000, pool: 'forks' } });
