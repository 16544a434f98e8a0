import { defineConfig } from 'vitest/config';

// The end-to-end trial alone (live stunnel4 + logrotate + SIGKILLed sidecar), for running it repeatedly:
// `npm run test:e2e`. It is also part of `npm test` (test/**/*.test.ts).
export default defineConfig({ test: { include: ['test/e2e/*.test.ts'], testTimeout: 150_000, pool: 'forks' } });
