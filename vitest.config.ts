import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Forks, not threads: the Temporal core bridge is a native module (sdk-typescript#876).
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      // Pure code: no services. The files share their workers' module cache (no mocks, no environment changes, no
      // module state between files): loading the modules once per worker instead of once per file halves the run.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], isolate: false } },
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
