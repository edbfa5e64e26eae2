/**
 * Secrets that ride inside text: a URL's password (`scheme://user:secret@`), a NATS token or credentials given as a
 * URL's user (`nats://token@`), a presigned URL's signature, and password-like query parameters (`?password=`,
 * `&token=`, `api_key`, `X-Amz-Signature`…). Each is replaced by `[redacted]`, wherever it appears in the text (an
 * error message, a log line, a config value), leaving the rest (host, database, user of a database URL) readable.
 */
const USERINFO_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^/\s@]*@/gi;
const TOKEN_AS_USER = /\b((?:nats|tls|wss?|redis|rediss|amqps?):\/\/)[^/\s:@]+@/gi;
const SECRET_PARAM =
  /([?&;](?:[\w.-]*(?:password|passwd|pwd|secret|token)|api[_-]?key|apikey|key|sig|signature|x-amz-signature|x-amz-credential)=)[^&#\s"']*/gi;

export function redactSecrets(text: string): string {
  if (!text.includes('=') && !text.includes('@')) return text;
  return text
    .replace(USERINFO_PASSWORD, '$1:[redacted]@')
    .replace(TOKEN_AS_USER, '$1[redacted]@')
    .replace(SECRET_PARAM, '$1[redacted]');
}

/** A copy of `value` with redactSecrets applied to every string in it. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  return value;
}

/** The paths of the strings in `value` that hold a secret redactSecrets would hide (`config.source`, `rows[2]`). */
export function secretPaths(value: unknown, path = ''): string[] {
  if (typeof value === 'string') return redactSecrets(value) === value ? [] : [path || '(value)'];
  if (Array.isArray(value)) return value.flatMap((v, i) => secretPaths(v, `${path}[${i}]`));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => secretPaths(v, path ? `${path}.${k}` : k));
  return [];
}
