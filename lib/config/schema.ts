import { z } from 'zod';
import { NOTIFICATION_EVENTS } from '../notifications/events.js';

const hostPort = z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7233');
const port = z.coerce.number({ error: 'expected a port number' }).int().min(1).max(65535);
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const duration = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+(ms|s|m|h)$/, "expected a duration like '30s'"),
]);

/** Every Cairn setting. Keys are what `cairn.yaml` uses; `ENV_KEYS` maps environment variables onto them. */
export const configSchema = z.strictObject({
  /** pino level. @default 'info' */
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Where local state lives: Temporal's database file, logs, pids, generated secrets. @default '.cairn' */
  home: z.string().min(1).default('.cairn'),
  /**
   * Where the virtualenvs of pinned Python requirements are kept, one per lock (a trainer's or an embedding model's
   * `requirements.txt`). Each is immutable and renamed into place only once complete, so every project and checkout of
   * a user shares them. @default '$XDG_CACHE_HOME/cairn/python-envs', else '~/.cache/cairn/python-envs'
   */
  pythonEnvs: z.string().min(1).optional(),
  /** The user project whose `cairn.config.ts` lists the pipelines to run and serve. @default the working directory */
  project: z.string().min(1).optional(),
  data: z
    .strictObject({
      /**
       * Where workers may read pipeline sources from: directories, `npm:` (installed packages), `s3://bucket[/prefix]`
       * (on the store's endpoint), `postgres://[user@]host[:port]/db` and `http(s)://host[/path]` prefixes; a source
       * elsewhere is refused. In the environment, comma-separated. @default Cairn's directory, `npm:`, the project's
       * directory, '<home>/data' and 's3://<store.bucket>/data'
       */
      roots: z
        .preprocess(
          (v) =>
            typeof v === 'string'
              ? v
                  .split(',')
                  .map((r) => r.trim())
                  .filter(Boolean)
              : v,
          z.array(z.string().min(1))
        )
        .optional(),
    })
    .prefault({}),
  temporal: z
    .strictObject({
      /** gRPC address of the Temporal frontend. @default '127.0.0.1:7233' */
      address: hostPort.default('127.0.0.1:7233'),
      namespace: z.string().min(1).default('default'),
      /** Web UI port of the local dev server. @default 8233 */
      uiPort: port.default(8233),
      tls: flag.default(false),
      /** Secret: TEMPORAL_API_KEY or TEMPORAL_API_KEY_FILE only. */
      apiKey: z.string().min(1).optional(),
      taskQueue: z.string().min(1).default('cairn'),
      trainTaskQueue: z.string().min(1).default('cairn-train'),
      /**
       * A file with the AES-256 key (base64) that encrypts every payload before it reaches Temporal (`cairn codec
       * keygen`); clients and workers must share it. Unset: payloads are stored as they are.
       */
      codecKeyFile: z.string().min(1).optional(),
    })
    .prefault({}),
  database: z
    .strictObject({
      /** PostgreSQL connection string; a password belongs in the DATABASE_URL environment variable only. */
      url: z
        .url({ protocol: /^postgres(ql)?$/, error: 'expected postgres://user@host:port/database' })
        .default('postgres://postgres@127.0.0.1:5432/cairn'),
      poolSize: z.coerce.number().int().min(1).max(200).default(10),
      /** How long to wait for a connection (a new one, or a free one from the pool) before failing. @default '10s' */
      connectTimeout: duration.default('10s'),
      /** Longest a statement may run; a stuck query fails instead of holding its caller forever. @default '5m' */
      statementTimeout: duration.default('5m'),
    })
    .prefault({}),
  store: z
    .strictObject({
      /** `s3` (any S3-compatible server) or `local` (a directory; one machine only). @default 's3' */
      kind: z.enum(['s3', 'local']).default('s3'),
      endpoint: z.url({ protocol: /^https?$/, error: 'expected http(s)://host:port' }).default('http://127.0.0.1:8333'),
      bucket: z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
          'expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)'
        )
        .default('cairn'),
      region: z.string().min(1).default('us-east-1'),
      accessKey: z.string().min(1).default('cairn'),
      /** Secret: S3_SECRET_KEY or S3_SECRET_KEY_FILE only (stack:up writes <home>/secrets/s3-secret-key). */
      secretKey: z.string().min(1).optional(),
      /** Directory of the `local` store. @default '<home>/artifacts' */
      localDir: z.string().min(1).optional(),
      /** Multipart part size; memory per upload stays near this. @default 16 */
      partSizeMiB: z.coerce.number().int().min(5).max(512).default(16),
    })
    .prefault({}),
  tracking: z
    .strictObject({
      /** Price of one CPU-second, for run costs (CPU-seconds × price). @default 0.0000139 (about 0.05 per CPU-hour) */
      cpuSecondPrice: z.coerce.number().nonnegative().default(0.0000139),
    })
    .prefault({}),
  worker: z
    .strictObject({
      /**
       * Prometheus endpoint of the `cairn` worker; the `cairn-train` worker uses the next port; 0 serves none (more
       * workers of a queue on one machine). @default 9464
       */
      metricsPort: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535).default(9464),
      /**
       * `/healthz` and `/readyz` (Temporal, PostgreSQL and the object store reachable) of the `cairn` worker, on
       * 127.0.0.1; the `cairn-train` worker uses the next port; 0 serves none. @default 0
       */
      healthPort: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535).default(0),
      /** How long running activities get to finish on SIGTERM. @default '30s' */
      shutdownGraceTime: duration.default('30s'),
    })
    .prefault({}),
  serving: z
    .strictObject({
      /** Address the online server listens on. @default '127.0.0.1' */
      host: z.string().min(1).default('127.0.0.1'),
      /** @default 8080 */
      port: port.default(8080),
      /** Deployment environment this server serves. @default 'production' */
      environment: z.string().min(1).default('production'),
      /** How often the server looks for a deployment change. @default '1s' */
      reloadInterval: duration.default('1s'),
      /** How often the monitoring feed is written to PostgreSQL. @default '5s' */
      flushInterval: duration.default('5s'),
      /** Share of served rows kept in the prediction log (inputs, outputs; what feedback refers to). @default 0.05 */
      sampleRate: z.coerce.number().min(0).max(1).default(0.05),
      /** Largest request body. @default 1048576 */
      maxBodyBytes: z.coerce.number().int().min(1024).default(1_048_576),
      /** Requests per minute one token (or, without one, one address) may make; 0: no limit. @default 0 */
      rateLimit: z.coerce.number().int().min(0).default(0),
      /**
       * Server processes on the one port (node:cluster): a number, or 'auto' for one per core this process may use.
       * One process scores on one core. @default 1
       */
      workers: z
        .union([
          z.literal('auto'),
          z.coerce.number({ error: 'expected a number of processes or "auto"' }).int().min(1).max(1024),
        ])
        .default(1),
      /** HTTPS: the certificate chain (PEM) and its key; both or neither. */
      tlsCertFile: z.string().min(1).optional(),
      tlsKeyFile: z.string().min(1).optional(),
    })
    .prefault({}),
  signing: z
    .strictObject({
      /** The private key the workers sign registered packages with (`cairn keys create`). @default '<home>/secrets/signing-key.json' */
      keyFile: z.string().min(1).optional(),
      /** Public keys trusted to have signed packages, one `<keyId>.json` each; every loader checks. @default '<home>/keys' */
      trustDir: z.string().min(1).optional(),
    })
    .prefault({}),
  release: z
    .strictObject({
      /** A principal may approve a release it requested itself (one-person teams). @default false */
      selfApproval: flag.default(false),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      /**
       * OpenTelemetry traces: the OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318) spans are sent to, as JSON to
       * <endpoint>/v1/traces; unset sends none. Workers trace workflows and activities, the online server its
       * requests. @default unset
       */
      otlpEndpoint: z.url({ protocol: /^https?$/, error: 'expected http(s)://host:port' }).optional(),
    })
    .prefault({}),
  console: z
    .strictObject({
      /**
       * Base URL of the Cairn console: where `cairn ui` listens, and where notifications' links point.
       * @default 'http://127.0.0.1:8090'
       */
      url: z.url({ protocol: /^https?$/, error: 'expected http(s)://host:port' }).default('http://127.0.0.1:8090'),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      /**
       * Webhooks that get a signed, Slack-compatible JSON message for each event they subscribe to; a workflow never
       * waits for one (delivery is retried by a workflow of its own). @default []
       */
      webhooks: z
        .array(
          z.strictObject({
            /** Names the webhook in workflow inputs and logs (its URL stays in the config). */
            name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a kebab-case name'),
            url: z.url({ protocol: /^https?$/, error: 'expected http(s)://host[:port]/path' }),
            /** @default every event */
            events: z
              .array(z.enum(NOTIFICATION_EVENTS))
              .min(1)
              .default([...NOTIFICATION_EVENTS]),
            /** A file holding the HMAC secret (relative to `home`); the secret itself never goes in cairn.yaml. */
            secretFile: z.string().min(1),
          })
        )
        .refine((hooks) => new Set(hooks.map((h) => h.name)).size === hooks.length, 'webhook names must be unique')
        .default([]),
    })
    .prefault({}),
  features: z
    .strictObject({
      /** The online feature store (Redis): latest feature values per entity, read by `cairn serve`. */
      redisUrl: z
        .string()
        .regex(/^rediss?:\/\/[^\s]+$/, 'expected redis://host:port[/db]')
        .default('redis://127.0.0.1:6379'),
      /** Prefix of every key Cairn writes to Redis. @default 'cairn:' */
      prefix: z.string().min(1).default('cairn:'),
    })
    .prefault({}),
  llm: z
    .strictObject({
      /**
       * An OpenAI-compatible API (e.g. https://api.openai.com/v1): prompt evaluations call <baseUrl>/chat/completions
       * and, for embedding similarity, <baseUrl>/embeddings. @default unset (evaluations refuse to start)
       */
      baseUrl: z.url({ protocol: /^https?$/, error: 'expected http(s)://host[:port]/path' }).optional(),
      /** The API key, sent as a bearer token (a secret: CAIRN_LLM_API_KEY or CAIRN_LLM_API_KEY_FILE). */
      apiKey: z.string().min(1).optional(),
      /** How long one call may take. @default '60s' */
      timeout: duration.default('60s'),
      /** Calls in flight at once, per evaluation. @default 4 */
      concurrency: z.coerce.number().int().min(1).max(64).default(4),
    })
    .prefault({}),
  nats: z
    .strictObject({
      /** NATS server with JetStream, for streaming inference. @default 'nats://127.0.0.1:4222' */
      url: z
        .string()
        .regex(/^(nats|tls):\/\/[^\s]+$/, 'expected nats://host:port')
        .default('nats://127.0.0.1:4222'),
      /**
       * `/healthz` and `/readyz` (NATS, PostgreSQL and the object store reachable) of the stream consumer (`cairn serve
       * --stream`), on 127.0.0.1; 0 serves none. @default 0
       */
      healthPort: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535).default(0),
    })
    .prefault({}),
});

export type CairnConfig = z.output<typeof configSchema>;
export type CairnConfigInput = z.input<typeof configSchema>;

/** Environment variables that set config keys. */
export const ENV_KEYS = {
  CAIRN_LOG_LEVEL: 'logLevel',
  CAIRN_HOME: 'home',
  CAIRN_PYTHON_ENVS: 'pythonEnvs',
  CAIRN_PROJECT: 'project',
  CAIRN_DATA_ROOTS: 'data.roots',
  TEMPORAL_ADDRESS: 'temporal.address',
  TEMPORAL_NAMESPACE: 'temporal.namespace',
  TEMPORAL_TLS: 'temporal.tls',
  TEMPORAL_API_KEY: 'temporal.apiKey',
  CAIRN_TEMPORAL_UI_PORT: 'temporal.uiPort',
  CAIRN_TASK_QUEUE: 'temporal.taskQueue',
  CAIRN_TRAIN_TASK_QUEUE: 'temporal.trainTaskQueue',
  CAIRN_CODEC_KEY_FILE: 'temporal.codecKeyFile',
  DATABASE_URL: 'database.url',
  CAIRN_DB_POOL_SIZE: 'database.poolSize',
  CAIRN_DB_CONNECT_TIMEOUT: 'database.connectTimeout',
  CAIRN_DB_STATEMENT_TIMEOUT: 'database.statementTimeout',
  CAIRN_STORE: 'store.kind',
  S3_ENDPOINT: 'store.endpoint',
  S3_BUCKET: 'store.bucket',
  S3_REGION: 'store.region',
  S3_ACCESS_KEY: 'store.accessKey',
  S3_SECRET_KEY: 'store.secretKey',
  CAIRN_STORE_DIR: 'store.localDir',
  CAIRN_PART_SIZE_MIB: 'store.partSizeMiB',
  CAIRN_CPU_SECOND_PRICE: 'tracking.cpuSecondPrice',
  CAIRN_METRICS_PORT: 'worker.metricsPort',
  CAIRN_HEALTH_PORT: 'worker.healthPort',
  CAIRN_SHUTDOWN_GRACE: 'worker.shutdownGraceTime',
  CAIRN_SERVING_HOST: 'serving.host',
  CAIRN_SERVING_PORT: 'serving.port',
  CAIRN_SERVE_WORKERS: 'serving.workers',
  CAIRN_ENVIRONMENT: 'serving.environment',
  CAIRN_SAMPLE_RATE: 'serving.sampleRate',
  CAIRN_RATE_LIMIT: 'serving.rateLimit',
  CAIRN_TLS_CERT_FILE: 'serving.tlsCertFile',
  CAIRN_TLS_KEY_FILE: 'serving.tlsKeyFile',
  CAIRN_SELF_APPROVAL: 'release.selfApproval',
  CAIRN_CONSOLE_URL: 'console.url',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'telemetry.otlpEndpoint',
  CAIRN_SIGNING_KEY_FILE: 'signing.keyFile',
  CAIRN_TRUST_DIR: 'signing.trustDir',
  CAIRN_REDIS_URL: 'features.redisUrl',
  CAIRN_FEATURES_PREFIX: 'features.prefix',
  CAIRN_LLM_BASE_URL: 'llm.baseUrl',
  CAIRN_LLM_API_KEY: 'llm.apiKey',
  CAIRN_LLM_TIMEOUT: 'llm.timeout',
  CAIRN_LLM_CONCURRENCY: 'llm.concurrency',
  NATS_URL: 'nats.url',
  CAIRN_STREAM_HEALTH_PORT: 'nats.healthPort',
} as const satisfies Record<string, string>;

/** Keys that hold secrets: never read from cairn.yaml, always redacted in logs. Each also has a `<VAR>_FILE` form. */
export const SECRET_KEYS: Record<string, keyof typeof ENV_KEYS> = {
  'temporal.apiKey': 'TEMPORAL_API_KEY',
  'store.secretKey': 'S3_SECRET_KEY',
  'llm.apiKey': 'CAIRN_LLM_API_KEY',
};

/** Environment variables with the CAIRN_ prefix that are not config keys but are known. */
export const OTHER_CAIRN_ENV = ['CAIRN_CONFIG', 'CAIRN_TOKEN', 'CAIRN_TOKEN_FILE'];
