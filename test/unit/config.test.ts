import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactConfig } from '../../lib/config/index.js';
import { createLogger } from '../../lib/logging/logger.js';

function dirWith(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-config-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'cairn.yaml'), yaml);
  return dir;
}

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives working defaults with no file and no environment', () => {
    const config = loadConfig({ env: {}, cwd: dirWith() });
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'cairn',
      trainTaskQueue: 'cairn-train',
    });
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/cairn');
    expect(config.store).toMatchObject({
      kind: 's3',
      endpoint: 'http://127.0.0.1:8333',
      bucket: 'cairn',
      partSizeMiB: 16,
    });
    expect(config.worker.shutdownGraceTime).toBe('30s');
    expect(config.pythonEnvs).toBe(join(homedir(), '.cache', 'cairn', 'python-envs'));
  });

  it('keeps Python environments in the user cache (XDG_CACHE_HOME), or where CAIRN_PYTHON_ENVS says', () => {
    const cwd = dirWith();
    expect(loadConfig({ env: { XDG_CACHE_HOME: '/var/cache/u' }, cwd }).pythonEnvs).toBe(
      '/var/cache/u/cairn/python-envs'
    );
    expect(loadConfig({ env: { CAIRN_PYTHON_ENVS: 'envs' }, cwd }).pythonEnvs).toBe(join(cwd, 'envs'));
  });

  it('layers cairn.yaml under environment variables', () => {
    const cwd = dirWith('temporal:\n  address: temporal.internal:7233\n  namespace: ml\nstore:\n  bucket: models\n');
    const config = loadConfig({ env: { TEMPORAL_NAMESPACE: 'prod', CAIRN_METRICS_PORT: '9500' }, cwd });
    expect(config.temporal.address).toBe('temporal.internal:7233');
    expect(config.temporal.namespace).toBe('prod');
    expect(config.store.bucket).toBe('models');
    expect(config.worker.metricsPort).toBe(9500);
  });

  it('names an unknown key in cairn.yaml and the file', () => {
    const cwd = dirWith('temporal:\n  adress: 127.0.0.1:7233\n');
    const err = failure(() => loadConfig({ env: {}, cwd }));
    expect(err.message).toBe(`${join(cwd, 'cairn.yaml')}: unknown key temporal.adress`);
  });

  it('names a wrongly typed key and the environment variable it came from', () => {
    const err = failure(() => loadConfig({ env: { CAIRN_METRICS_PORT: 'abc' }, cwd: dirWith() }));
    expect(err.key).toBe('worker.metricsPort');
    expect(err.message).toMatch(/^worker\.metricsPort \(from CAIRN_METRICS_PORT\): expected a port number, got "abc"$/);
  });

  it('names a wrongly typed key in cairn.yaml', () => {
    const cwd = dirWith('store:\n  kind: ftp\n');
    const err = failure(() => loadConfig({ env: {}, cwd }));
    expect(err.message).toContain('store.kind (from ');
    expect(err.message).toContain('cairn.yaml');
    expect(err.message).toContain('"ftp"');
  });

  it('rejects a malformed Temporal address', () => {
    const err = failure(() => loadConfig({ env: { TEMPORAL_ADDRESS: 'http://x' }, cwd: dirWith() }));
    expect(err.message).toMatch(/^temporal\.address \(from TEMPORAL_ADDRESS\): expected host:port/);
  });

  it('rejects an unknown CAIRN_ environment variable', () => {
    const err = failure(() => loadConfig({ env: { CAIRN_STOER: 'local' }, cwd: dirWith() }));
    expect(err.message).toMatch(/^environment: unknown variable CAIRN_STOER/);
  });

  it('refuses secrets in cairn.yaml', () => {
    const err = failure(() => loadConfig({ env: {}, cwd: dirWith('store:\n  secretKey: hunter2\n') }));
    expect(err.message).toContain('store.secretKey is a secret; set S3_SECRET_KEY or S3_SECRET_KEY_FILE instead');
    const url = failure(() =>
      loadConfig({ env: {}, cwd: dirWith('database:\n  url: postgres://u:pw@db:5432/cairn\n') })
    );
    expect(url.message).toContain('database.url holds a password');
  });

  it('reads secrets from environment files and never prints them', () => {
    const cwd = dirWith();
    writeFileSync(join(cwd, 'secret'), 'file-secret\n');
    const config = loadConfig({
      env: { S3_SECRET_KEY_FILE: 'secret', DATABASE_URL: 'postgres://u:pw@db:5432/x' },
      cwd,
    });
    expect(config.store.secretKey).toBe('file-secret');
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('file-secret');
    expect(shown).not.toContain(':pw@');
    expect(shown).toContain('postgres://u:[redacted]@db:5432/x');
  });

  it('a missing secret file is named', () => {
    const err = failure(() => loadConfig({ env: { S3_SECRET_KEY_FILE: 'nope' }, cwd: dirWith() }));
    expect(err.message).toBe('store.secretKey (from S3_SECRET_KEY_FILE): cannot read nope');
  });
});

describe('logger', () => {
  it('redacts secrets in log records', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ logLevel: 'info' }, {}, sink);
    logger.info({ store: { secretKey: 's3cr3t' }, apiKey: 'k3y', authorization: 'Bearer t0ken' }, 'hi');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/s3cr3t|k3y|t0ken/);
    expect(JSON.parse(lines[0]!).store.secretKey).toBe('[redacted]');
  });
});
