import pg from 'pg';
import type { CairnConfig } from '../config/index.js';
import { durationMs } from '../config/duration.js';
import type { Logger } from '../logging/logger.js';

const REVOCATION_CHANNEL = 'cairn_token_revoked';

/**
 * Calls `onRevoked(tokenId)` the moment a token is revoked anywhere: a trigger on `cairn.api_tokens` sends
 * `NOTIFY cairn_token_revoked`, and this listens on a connection of its own. The connection is re-opened with
 * backoff when it drops; on every (re)connect `onRevoked()` is called with no id, because notifications sent while
 * it was away are lost: caches then forget everything. Until then a cache falls back to its own expiry.
 */
export function watchRevocations(
  config: Pick<CairnConfig, 'database'>,
  onRevoked: (tokenId?: string) => void,
  logger?: Pick<Logger, 'warn' | 'info'>
): { close(): Promise<void> } {
  let client: pg.Client | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = 1000;

  const retry = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void open();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, 30_000);
  };

  const open = async () => {
    const c = new pg.Client({
      connectionString: config.database.url,
      connectionTimeoutMillis: durationMs(config.database.connectTimeout),
      keepAlive: true,
    });
    client = c;
    // A dropped connection reports an error, an end, or both: whichever comes first re-opens it, once.
    const lost = (why: string) => {
      if (client !== c || closed) return;
      client = undefined;
      logger?.warn({ err: why }, 'token revocation listener lost its connection; reconnecting');
      void c.end().catch(() => undefined);
      retry();
    };
    c.on('error', (err) => lost(err.message));
    c.on('end', () => lost('connection ended'));
    c.on('notification', (n) => {
      if (n.channel === REVOCATION_CHANNEL) onRevoked(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${REVOCATION_CHANNEL}`);
      delay = 1000;
      onRevoked();
    } catch (err) {
      lost((err as Error).message);
    }
  };
  void open();

  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}
