import type { AddressInfo } from 'node:net';
import type { CairnConfig } from '../../lib/config/index.js';
import type { Logger } from '../../lib/logging/logger.js';
import { buildServer } from '../../serving/server.js';
import type { Server } from '../../serving/server.js';
import { testConfig } from './services.js';
import type { TestDeps } from './services.js';

/**
 * The online server over the test services on a free loopback port; every served row is sampled and deployments are
 * reloaded every 200 ms unless `serving` says otherwise. Close `server` after the tests.
 */
export async function startTestServer(
  deps: TestDeps,
  serving: Partial<CairnConfig['serving']> = {},
  logger: Logger = deps.logger
): Promise<{ server: Server; base: string }> {
  const config = testConfig();
  const server = await buildServer({
    ...deps,
    logger,
    config: {
      database: config.database,
      signing: config.signing,
      // The test process's own keys: what its materialisations wrote.
      features: { redisUrl: deps.onlineStore.url, prefix: deps.onlineStore.prefix },
      serving: { ...config.serving, sampleRate: 1, reloadInterval: 200, ...serving },
    },
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, base: `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}` };
}
