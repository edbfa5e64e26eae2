import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, ENV_KEYS, OTHER_CAIRN_ENV, SECRET_KEYS } from './schema.js';
import type { CairnConfig } from './schema.js';
import { CairnError } from '../errors.js';
import { redactDeep, redactSecrets } from './redact.js';

/** A configuration mistake, described in one line that names the key and where it came from. */
export class ConfigError extends CairnError {
  override readonly name = 'ConfigError';
  readonly type = 'ConfigError';
  constructor(
    message: string,
    readonly key?: string
  ) {
    super(message);
  }
}

export interface LoadConfigOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Path of the YAML file. @default env.CAIRN_CONFIG, else ./cairn.yaml when it exists */
  file?: string;
  /** Settings applied over everything else (tests, CLI flags). */
  overrides?: Record<string, unknown>;
  /** @default process.cwd() */
  cwd?: string;
}

type Raw = Record<string, unknown>;

function setPath(target: Raw, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = (typeof next === 'object' && next !== null ? next : (node[part] = {})) as Raw;
  }
  node[parts[parts.length - 1]!] = value;
}

function getPath(source: unknown, path: string): unknown {
  let node = source;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Raw)[part];
  }
  return node;
}

function readYaml(path: string): Raw {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`config file ${path}: expected a mapping of keys`);
  for (const [key, envName] of Object.entries(SECRET_KEYS)) {
    if (getPath(doc, key) !== undefined) {
      throw new ConfigError(`config file ${path}: ${key} is a secret; set ${envName} or ${envName}_FILE instead`, key);
    }
  }
  const url = getPath(doc, 'database.url');
  if (typeof url === 'string' && /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(url)) {
    throw new ConfigError(
      `config file ${path}: database.url holds a password; put it in DATABASE_URL instead`,
      'database.url'
    );
  }
  return doc as Raw;
}

function describe(issue: z.core.$ZodIssue, sources: Map<string, string>, value: unknown): string {
  const key = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = key ? `${key}.` : '';
    const from = sources.get('__file') ?? 'config';
    return `${from}: unknown key ${issue.keys.map((k) => where + k).join(', ')}`;
  }
  const from = sources.get(key) ?? 'config';
  const shown = SECRET_KEYS[key]
    ? ''
    : value === undefined
      ? ', got nothing'
      : `, got ${redactSecrets(JSON.stringify(value))}`;
  return `${key} (from ${from}): ${issue.message}${shown}`;
}

/**
 * Reads the configuration: defaults, then cairn.yaml, then environment variables, then overrides.
 * Throws a ConfigError naming the first bad key and its source.
 */
export function loadConfig(options: LoadConfigOptions = {}): CairnConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const sources = new Map<string, string>();

  const explicitFile = options.file ?? env.CAIRN_CONFIG;
  const file = explicitFile ? resolve(cwd, explicitFile) : resolve(cwd, 'cairn.yaml');
  if (explicitFile && !existsSync(file)) throw new ConfigError(`config file ${file} (from CAIRN_CONFIG): not found`);
  const raw: Raw = existsSync(file) ? readYaml(file) : {};
  if (existsSync(file)) {
    sources.set('__file', file);
    for (const key of Object.values(ENV_KEYS)) if (getPath(raw, key) !== undefined) sources.set(key, file);
  }

  for (const name of Object.keys(env)) {
    if (
      name.startsWith('CAIRN_') &&
      !(name in ENV_KEYS) &&
      !OTHER_CAIRN_ENV.includes(name) &&
      !name.endsWith('_FILE')
    ) {
      throw new ConfigError(
        `environment: unknown variable ${name} (known: ${Object.keys(ENV_KEYS)
          .filter((k) => k.startsWith('CAIRN_'))
          .join(', ')})`
      );
    }
  }
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(raw, key, value);
      sources.set(key, name);
    }
  }
  for (const [key, name] of Object.entries(SECRET_KEYS)) {
    const fileVar = `${name}_FILE`;
    const secretFile = env[fileVar];
    if (env[name] || !secretFile) continue;
    try {
      setPath(raw, key, readFileSync(resolve(cwd, secretFile), 'utf8').trim());
      sources.set(key, fileVar);
    } catch {
      throw new ConfigError(`${key} (from ${fileVar}): cannot read ${secretFile}`, key);
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    setPath(raw, key, value);
    sources.set(key, 'overrides');
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(describe(issue, sources, getPath(raw, issue.path.join('.'))), issue.path.join('.'));
  }
  const config = parsed.data;
  config.home = resolve(cwd, config.home);
  config.pythonEnvs = resolve(
    cwd,
    config.pythonEnvs ?? join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cairn', 'python-envs')
  );
  config.store.localDir = resolve(config.home, config.store.localDir ?? 'artifacts');
  config.signing.keyFile = resolve(config.home, config.signing.keyFile ?? join('secrets', 'signing-key.json'));
  config.signing.trustDir = resolve(config.home, config.signing.trustDir ?? 'keys');
  for (const hook of config.notifications.webhooks) hook.secretFile = resolve(config.home, hook.secretFile);
  if (config.store.kind === 's3' && config.store.secretKey === undefined) {
    const generated = resolve(config.home, 'secrets', 's3-secret-key');
    if (existsSync(generated)) config.store.secretKey = readFileSync(generated, 'utf8').trim();
  }
  return config;
}

/** The configuration with secrets and passwords replaced, for logs and `cairn config`. */
export function redactConfig(config: CairnConfig): CairnConfig {
  // Every URL (database, NATS, S3 endpoint, Temporal) loses its password, token and secret parameters.
  const copy = redactDeep(structuredClone(config));
  for (const key of Object.keys(SECRET_KEYS)) if (getPath(copy, key) !== undefined) setPath(copy, key, '[redacted]');
  // A webhook's path may be its credential (a Slack incoming-webhook URL is): only the origin is shown.
  for (const hook of copy.notifications.webhooks) hook.url = `${new URL(hook.url).origin}/[redacted]`;
  return copy;
}

/** Throws a ConfigError when the S3 secret is needed but missing. */
export function requireS3Secret(config: CairnConfig): string {
  if (config.store.secretKey) return config.store.secretKey;
  throw new ConfigError(
    `store.secretKey: missing; set S3_SECRET_KEY or S3_SECRET_KEY_FILE (npm run stack:up writes ${resolve(config.home, 'secrets', 's3-secret-key')})`,
    'store.secretKey'
  );
}
