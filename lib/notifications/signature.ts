import { createHmac, timingSafeEqual } from 'node:crypto';

/** Headers of a signed webhook delivery. */
export const WEBHOOK_HEADERS = {
  signature: 'x-cairn-signature',
  timestamp: 'x-cairn-timestamp',
  delivery: 'x-cairn-delivery',
  event: 'x-cairn-event',
} as const;

/**
 * The signature of a delivery: `sha256=` and the hex HMAC-SHA256, under the webhook's secret, of
 * `<timestamp>.<body>` (timestamp in Unix seconds). Signing the timestamp with the body lets a receiver refuse an old
 * delivery replayed to it.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver checks: the signature matches the body and timestamp under `secret`, and the timestamp is within
 * `toleranceSeconds` of `now`. Returns why a delivery is refused, or undefined when it is genuine.
 */
export function verifyWebhook(
  secret: string,
  headers: { signature?: string; timestamp?: string },
  body: string,
  options: { now?: number; toleranceSeconds?: number } = {}
): string | undefined {
  const timestamp = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(timestamp)) return 'missing signature or timestamp';
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return 'timestamp outside the tolerance';
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? undefined : 'signature mismatch';
}
