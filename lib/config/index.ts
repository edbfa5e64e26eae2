export { configSchema, ENV_KEYS, SECRET_KEYS } from './schema.js';
export type { CairnConfig, CairnConfigInput } from './schema.js';
export { ConfigError, loadConfig, redactConfig, requireS3Secret } from './load.js';
export type { LoadConfigOptions } from './load.js';
export { redactDeep, redactSecrets } from './redact.js';
