-- Up Migration
-- Releases: one row per releaseModel workflow; its checklist and outcome.
CREATE TABLE cairn.releases (
  id          text PRIMARY KEY,                        -- the workflow id
  model       text NOT NULL REFERENCES cairn.models (name),
  version     integer NOT NULL,
  environment text NOT NULL,
  strategy    jsonb NOT NULL,
  status      text NOT NULL CHECK (status IN ('checking', 'awaiting-approval', 'rolling-out', 'promoted', 'rejected',
                                              'rolled-back', 'refused')),
  checklist   jsonb,
  outcome     text,
  started_at  timestamptz NOT NULL DEFAULT now(),
  ended_at    timestamptz,
  FOREIGN KEY (model, version) REFERENCES cairn.model_versions (model, version)
);
CREATE INDEX releases_model ON cairn.releases (model, environment, started_at DESC);

-- Every decision a release received (accepted or not), keyed by the workflow's own sequence: a retried activity
-- records it once.
CREATE TABLE cairn.approvals (
  release_id text NOT NULL REFERENCES cairn.releases (id),
  seq        integer NOT NULL,
  decision   text NOT NULL CHECK (decision IN ('approve', 'reject', 'rollback', 'timeout')),
  by         text NOT NULL,
  comment    text,
  accepted   boolean NOT NULL,
  at         timestamptz NOT NULL,
  PRIMARY KEY (release_id, seq)
);

-- What serves where: one row per (model, environment). Servers poll `revision` and reload when it moves.
CREATE TABLE cairn.deployments (
  model            text NOT NULL REFERENCES cairn.models (name),
  environment      text NOT NULL,
  stable_version   integer NOT NULL,
  canary_version   integer,
  canary_weight    double precision NOT NULL DEFAULT 0 CHECK (canary_weight >= 0 AND canary_weight <= 1),
  previous_version integer,                              -- the rollback target
  release_id       text,
  revision         bigint NOT NULL DEFAULT 1,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, environment),
  CHECK ((canary_version IS NULL) = (canary_weight = 0))
);

CREATE TABLE cairn.deployment_history (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model            text NOT NULL,
  environment      text NOT NULL,
  revision         bigint NOT NULL,
  action           text NOT NULL,
  stable_version   integer NOT NULL,
  canary_version   integer,
  canary_weight    double precision NOT NULL,
  previous_version integer,
  release_id       text,
  by               text NOT NULL,
  reason           text NOT NULL,
  at               timestamptz NOT NULL DEFAULT now(),
  UNIQUE (model, environment, revision)
);

-- API tokens: only a SHA-256 of the token is kept. Roles: predict, approver, admin.
CREATE TABLE cairn.api_tokens (
  id         text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  principal  text NOT NULL,
  roles      text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

-- The serving feed: each server flushes what it saw per model version every few seconds (counts only; readers sum
-- the rows of a time range).
CREATE TABLE cairn.serving_stats (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model        text NOT NULL,
  environment  text NOT NULL,
  version      integer NOT NULL,
  server       text NOT NULL,
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  requests     bigint NOT NULL,
  errors       bigint NOT NULL,
  predictions  bigint NOT NULL,
  latency      jsonb NOT NULL,                          -- histogram of milliseconds
  features     jsonb NOT NULL,                          -- per input column, on the training reference edges
  outputs      jsonb NOT NULL                           -- prediction histogram / class counts
);
CREATE INDEX serving_stats_window ON cairn.serving_stats (model, environment, version, window_end);

-- A sample of served rows, and ground truth arriving later by prediction id.
CREATE TABLE cairn.prediction_log (
  id          text PRIMARY KEY,
  model       text NOT NULL,
  environment text NOT NULL,
  version     integer NOT NULL,
  input       jsonb NOT NULL,
  output      jsonb NOT NULL,
  at          timestamptz NOT NULL
);
CREATE INDEX prediction_log_model ON cairn.prediction_log (model, environment, version, at);

CREATE TABLE cairn.feedback (
  prediction_id text PRIMARY KEY REFERENCES cairn.prediction_log (id),
  label         jsonb NOT NULL,
  at            timestamptz NOT NULL DEFAULT now()
);

-- Batch inference: lineage of each scored output.
CREATE TABLE cairn.batch_inferences (
  id             text PRIMARY KEY,                      -- the workflow id
  model          text NOT NULL,
  version        integer NOT NULL,
  input_digest   text NOT NULL,
  output_digest  text NOT NULL,
  rows           bigint NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (model, version) REFERENCES cairn.model_versions (model, version)
);

-- Down Migration
DROP TABLE cairn.batch_inferences;
DROP TABLE cairn.feedback;
DROP TABLE cairn.prediction_log;
DROP TABLE cairn.serving_stats;
DROP TABLE cairn.api_tokens;
DROP TABLE cairn.deployment_history;
DROP TABLE cairn.deployments;
DROP TABLE cairn.approvals;
DROP TABLE cairn.releases;
