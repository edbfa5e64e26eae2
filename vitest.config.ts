import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Forks, not threads: the Temporal core bridge is a native module (sdk-typescript#876).
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      // Pure code: no services.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/replay/**/*.test.ts'],
          // One Temporal dev server, the test database and the object store, started once for these files.
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
