import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig, redactSecrets } from '../../lib/config/index.js';
import { createLogger } from '../../lib/logging/logger.js';
import { parseSets } from '../../lib/pipeline/run-config.js';

describe('redactSecrets', () => {
  it.each([
    ['postgres://app:pw@db:5432/cairn', 'postgres://app:[redacted]@db:5432/cairn'],
    ['connect to http://ak:s3cr3t@minio:9000 failed', 'connect to http://ak:[redacted]@minio:9000 failed'],
    ['nats://t0ken@nats:4222', 'nats://[redacted]@nats:4222'],
    ['https://data.example/x.csv?user=bob&password=hunter2', 'https://data.example/x.csv?user=bob&password=[redacted]'],
    ['GET /q?token=abc&api_key=def', 'GET /q?token=[redacted]&api_key=[redacted]'],
    [
      'https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=ff00',
      'https://b.s3.amazonaws.com/k?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]',
    ],
  ])('hides the secret in %s', (text, redacted) => {
    expect(redactSecrets(text)).toBe(redacted);
  });

  it.each([
    'postgres://postgres@127.0.0.1:5432/cairn',
    'http://127.0.0.1:8333',
    'rows=3 rounds=100',
    'a@b.example wrote x=1',
  ])('leaves %s as it is', (text) => {
    expect(redactSecrets(text)).toBe(text);
  });
});

describe('secrets never shown', () => {
  it('in a config error about a URL', () => {
    const err = (() => {
      try {
        loadConfig({ env: { DATABASE_URL: 'mysql://app:hunter2@db/cairn' }, cwd: '/' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('database.url (from DATABASE_URL)');
    expect(err.message).not.toContain('hunter2');
    expect(err.message).toContain('mysql://app:[redacted]@db/cairn');
  });

  it('in `cairn config`: every URL, NATS and the S3 endpoint included', () => {
    const config = loadConfig({
      env: {
        DATABASE_URL: 'postgres://app:pw1@db:5432/x?sslpassword=pw2',
        NATS_URL: 'nats://natstoken@nats:4222',
        S3_ENDPOINT: 'http://ak:sk@minio:9000',
        S3_SECRET_KEY: 'sk2',
      },
      cwd: '/',
    });
    const shown = JSON.stringify(redactConfig(config));
    for (const secret of ['pw1', 'pw2', 'natstoken', ':sk@', 'sk2']) expect(shown).not.toContain(secret);
    expect(shown).toContain('nats://[redacted]@nats:4222');
  });

  it('in log lines: the message, string fields and errors', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ logLevel: 'info' }, {}, sink);
    logger.error(
      { err: new Error('connect postgres://app:pw3@db/x failed'), source: 'https://h/x?token=tok4' },
      'reading https://h/y?password=pw5'
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/pw3|tok4|pw5/);
    const record = JSON.parse(lines[0]!) as { msg: string; err: { message: string; stack: string }; source: string };
    expect(record.msg).toBe('reading https://h/y?password=[redacted]');
    expect(record.err.message).toBe('connect postgres://app:[redacted]@db/x failed');
    expect(record.err.stack).not.toContain('pw3');
  });

  it('in a workflow input: --set refuses a credential the history would keep', () => {
    expect(() => parseSets(['source=https://u:pw6@h/data.csv'], 'penguins')).toThrow(
      /--set source: holds a credential .* which the workflow history would keep/
    );
    expect(parseSets(['rounds=3'])).toEqual({ rounds: 3 });
  });
});
