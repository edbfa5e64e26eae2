import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One Temporal dev server, the test database and the object store, started once for every test file.
    globalSetup: ['test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // Forks, not threads: the Temporal core bridge is a native module (sdk-typescript#876).
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
